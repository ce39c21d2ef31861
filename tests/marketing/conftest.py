"""The marketing tests share the serving tests' trained, registered and imported model (one per session) and
write its simulated history, with identifying columns a CRM export would carry, as a canonical data folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator import write_history
from tests.conftest import use_store
from tests.serving.session import Trained

runner = CliRunner()


@pytest.fixture(scope="session")
def data_dir(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model's history as a data folder; every lead also has a name, company and e-mail."""
    history = trained.history
    leads = history.leads.copy()
    number = leads["lead_id"].str[1:].astype(int)
    leads["name"] = "Person " + number.astype(str)
    leads["company"] = "Company " + (number % 97).astype(str)
    leads["email"] = "p" + number.astype(str) + "@example.com"
    out = tmp_path_factory.mktemp("mkt-data")
    write_history(dataclasses.replace(history, leads=leads), out)
    return out


@pytest.fixture
def store_env(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """`leadrank` commands read the session's MLflow store."""
    use_store(monkeypatch, trained.home)
    return trained
