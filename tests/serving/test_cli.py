"""`leadrank serve` (with BentoML's server stubbed out) and its failure modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from leadrank.commands.serve import serve
from tests.serving.session import Trained


def run(*args: str) -> Any:
    app = typer.Typer()
    app.command("serve")(serve)
    app.command("noop")(lambda: None)  # two commands, so "serve" is a subcommand as in leadrank
    return CliRunner().invoke(app, ["serve", *args])


def text_of(result: Any) -> str:
    return str(result.output) + str(getattr(result, "stderr", "") or "")


def test_no_model_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRANK_HOME", str(tmp_path))
    monkeypatch.delenv("LEADRANK_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = run("--import-only")
    assert result.exit_code == 2
    assert "no MLflow store" in text_of(result) and "Traceback" not in text_of(result)


def test_bad_host_and_settings_are_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("--host", "example.com")
    assert result.exit_code == 2 and "--host must be an IP address" in text_of(result)
    monkeypatch.setenv("LEADRANK_MAX_BATCH", "zero")
    result = run("--import-only")
    assert result.exit_code == 2 and "LEADRANK_MAX_BATCH" in text_of(result)


@pytest.mark.integration
def test_import_only_reuses_the_stored_version(trained: Trained) -> None:
    result = run("--import-only")
    assert result.exit_code == 0, text_of(result)
    assert trained.bento_tag in text_of(result) and "already in the BentoML store" in text_of(result)
    assert f"LEADRANK_BENTO_MODEL={trained.bento_tag} bentoml build" in text_of(result)


@pytest.mark.integration
def test_import_only_json_prints_the_tag_and_nothing_else(trained: Trained) -> None:
    import json

    result = run("--import-only", "--json")
    assert result.exit_code == 0, text_of(result)
    assert json.loads(result.stdout) == {
        "model_name": "lead-scorer",
        "mlflow_version": trained.mlflow_version,
        "tag": trained.bento_tag,
        "imported": False,
    }


def test_json_without_import_only_is_exit_2() -> None:
    result = run("--json")
    assert result.exit_code == 2 and "--json goes with --import-only" in text_of(result)


@pytest.mark.integration
def test_unknown_model_version_is_exit_2(trained: Trained) -> None:
    result = run("--import-only", "--model-version", "99")
    assert result.exit_code == 2 and "no version 99" in text_of(result)
    result = run("--import-only", "--model-version", "latest")
    assert result.exit_code == 2 and "whole number" in text_of(result)


@pytest.mark.integration
def test_serve_starts_bentoml_and_warns_when_open(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    import bentoml

    calls: list[dict[str, Any]] = []

    def fake_serve(service: Any, **kwargs: Any) -> None:
        calls.append({"service": service, "workers": service.config.get("workers"), **kwargs})

    monkeypatch.setattr(bentoml, "serve", fake_serve)
    from serving.service import LeadScorer

    service: Any = LeadScorer
    saved = dict(service.config)
    try:
        result = run("--host", "0.0.0.0", "--port", "3999", "--workers", "2")
    finally:
        service.config.clear()
        service.config.update(saved)
    assert result.exit_code == 0, text_of(result)
    assert "WITHOUT authentication" in text_of(result)
    assert calls and calls[0]["host"] == "0.0.0.0" and calls[0]["port"] == 3999 and calls[0]["workers"] == 2
    import os

    assert os.environ["LEADRANK_BENTO_MODEL"] == trained.bento_tag

    monkeypatch.setenv("LEADRANK_API_TOKENS", "t1")
    result = run("--host", "0.0.0.0", "--port", "3999")
    assert result.exit_code == 0 and "WITHOUT authentication" not in text_of(result)
    result = run("--port", "3999")
    assert "WITHOUT authentication" not in text_of(result) and "127.0.0.1:3999" in text_of(result)


def test_serve_binds_to_localhost_unless_told(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    import bentoml

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(bentoml, "serve", lambda service, **kwargs: calls.append(kwargs))
    monkeypatch.delenv("LEADRANK_API_TOKENS", raising=False)
    result = run()
    assert result.exit_code == 0, text_of(result)
    assert [call["host"] for call in calls] == ["127.0.0.1"] and calls[0]["port"] == 3000
    assert "WITHOUT authentication" not in text_of(result)
