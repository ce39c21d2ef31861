"""Named clients: `LEADRANK_API_TOKENS` takes `name:token` pairs (plain tokens are `client-<k>`); the prediction
log records the client's name, never its token; and no token appears in any log line."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from serving.config import ApiClient, ServiceSettings, parse_api_tokens
from serving.middleware import ApiGuard
from serving.schemas import LEAD_EXAMPLE
from tests.serving.session import Trained

CRM_TOKEN = "crm-secret-5b1f0c9e7d2a4e6f"
PLAIN_TOKEN = "plain-secret-8c3d2b1a0f9e8d7c"
WRONG_TOKEN = "wrong-secret-1a2b3c4d5e6f7a8b"
SECRETS = (CRM_TOKEN, PLAIN_TOKEN, WRONG_TOKEN)


def test_entries_are_named_or_numbered() -> None:
    clients = parse_api_tokens([f" crm:{CRM_TOKEN} ", "", PLAIN_TOKEN, "web.app_2:other-token"])
    assert [c.name for c in clients] == ["crm", "client-2", "web.app_2"]
    assert [c.token for c in clients] == [CRM_TOKEN, PLAIN_TOKEN, "other-token"]
    assert CRM_TOKEN not in repr(clients)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([f"bad name:{CRM_TOKEN}"], "entry 1: the part before ':' is not a client name"),
        (["crm:"], "entry 1 (client 'crm') has no token"),
        ([f"crm:{CRM_TOKEN}", f"crm:{PLAIN_TOKEN}"], "client name 'crm' is given twice"),
        ([f"crm:{CRM_TOKEN}", CRM_TOKEN], "entry 2 (client 'client-2') has the same token as client 'crm'"),
        ([f"crm:{CRM_TOKEN} x"], "cannot contain spaces"),
    ],
)
def test_bad_entries_are_refused_without_showing_a_token(entries: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as exc:
        parse_api_tokens(entries)
    assert not any(secret in str(exc.value) for secret in SECRETS)


def test_settings_never_show_the_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRANK_API_TOKENS", f"crm:{CRM_TOKEN},{PLAIN_TOKEN}")
    settings = ServiceSettings()
    assert settings.api_clients() == [ApiClient("crm", CRM_TOKEN), ApiClient("client-2", PLAIN_TOKEN)]
    assert settings.token_list() == [CRM_TOKEN, PLAIN_TOKEN]
    assert not any(secret in repr(settings) or secret in str(settings) for secret in SECRETS)
    monkeypatch.setenv("LEADRANK_API_TOKENS", f"crm:{CRM_TOKEN},crm:{PLAIN_TOKEN}")
    with pytest.raises(ValidationError) as exc:
        ServiceSettings()
    assert "given twice" in str(exc.value) and not any(secret in str(exc.value) for secret in SECRETS)


# --- the service --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(client: Any) -> Iterator[TestClient]:
    yield TestClient(ApiGuard(client.app, tokens=[f"crm:{CRM_TOKEN}", PLAIN_TOKEN]))


def _clients_of(trained: Trained, request_id: str) -> set[str | None]:
    engine = create_engine(trained.settings.resolved_prediction_db())
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT client FROM predictions WHERE request_id = :r"), {"r": request_id})
            return {row[0] for row in rows}
    finally:
        engine.dispose()


@pytest.mark.integration
def test_the_log_records_the_client_name(guarded: TestClient, trained: Trained) -> None:
    lead = copy.deepcopy(LEAD_EXAMPLE)
    for token, name in ((CRM_TOKEN, "crm"), (PLAIN_TOKEN, "client-2")):
        r = guarded.post("/score", json={"leads": [lead]}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert _clients_of(trained, r.json()["request_id"]) == {name}
        r = guarded.post(
            "/rank", json={"leads": [lead], "capacity": {"hours": 9}}, headers={"Authorization": f"Bearer {token}"}
        )
        assert _clients_of(trained, r.json()["request_id"]) == {name}


@pytest.mark.integration
def test_tokens_never_appear_in_a_log_line(
    guarded: TestClient, instance: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    lead = copy.deepcopy(LEAD_EXAMPLE)
    good = {"Authorization": f"Bearer {CRM_TOKEN}"}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/score", {"json": {"leads": [lead]}, "headers": good}),
        ("GET", "/model", {"headers": {"Authorization": f"Bearer {PLAIN_TOKEN}"}}),
        ("POST", "/score", {"json": {"leads": [lead]}, "headers": {"Authorization": f"Bearer {WRONG_TOKEN}"}}),
        ("POST", "/score", {"json": {"leads": [lead]}, "headers": {"Authorization": WRONG_TOKEN}}),
        ("POST", "/score", {"json": {"leads": [{**lead, "lead_id": 5}]}, "headers": good}),  # rejected by BentoML
        ("POST", "/score", {"json": {"leads": [lead, lead]}, "headers": good}),  # rejected by leadrank
        ("POST", "/score", {"content": b"{", "headers": {**good, "content-type": "application/json"}}),
        ("POST", "/score", {"content": b"x", "headers": {**good, "content-type": "text/plain"}}),
        ("POST", "/score", {"json": {"leads": [lead]}, "headers": {**good, "Idempotency-Key": "k-clients"}}),
        (
            "POST",
            "/score",
            {"json": {"leads": [{**lead, "source": "x"}]}, "headers": {**good, "Idempotency-Key": "k-clients"}},
        ),
    ]
    statuses = [guarded.request(method, path, **kwargs).status_code for method, path, kwargs in requests]
    assert statuses == [200, 200, 401, 401, 400, 400, 400, 415, 200, 422]
    # A prediction log that cannot be written: the service logs an error (and answers 503).
    table = instance.log.predictions.name
    with instance.log.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    try:
        assert guarded.post("/score", json={"leads": [lead]}, headers=good).status_code == 503
    finally:
        with instance.log.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table}_away RENAME TO {table}"))
    # A bad configuration is reported at start-up, by entry and name.
    with pytest.raises(ValueError) as exc:
        ApiGuard(guarded.app, tokens=[f"crm:{CRM_TOKEN}", f"crm:{PLAIN_TOKEN}"])
    logging.getLogger("serving.service").error("%s", exc.value)

    out, err = capfd.readouterr()
    lines = [record.getMessage() for record in caplog.records] + caplog.text.splitlines() + [out, err]
    assert any("cannot be written" in line for line in lines)  # the capture saw the error lines
    assert any("given twice" in line for line in lines)
    for secret in SECRETS:
        assert not [line for line in lines if secret in line], secret
