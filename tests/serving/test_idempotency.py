"""Retries: an `Idempotency-Key` makes a retried /score or /rank return the first answer (same request_id)
without new prediction-log rows; the key is stored with the rows, in the log's database, so it holds across
workers and restarts, per client, until it expires."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text
from starlette.testclient import TestClient

from serving.errors import IdempotencyConflict
from serving.middleware import ApiGuard
from serving.predictions import IdempotentAnswer, PredictionLog
from serving.schemas import LEAD_EXAMPLE
from serving.scoring import LogRows
from tests.serving.session import Trained, request_leads

NOW = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'predictions.db'}"


def _rows(request_id: str, ids: list[str]) -> LogRows:
    return LogRows(request_id, "score", "7", ids, np.full(len(ids), 0.25))


def _answer(key: str, request_id: str, request_hash: str = "h1", client: str = "") -> IdempotentAnswer:
    return IdempotentAnswer(
        client, key, request_hash, request_id, "score", f'{{"request_id": "{request_id}"}}'.encode()
    )


def _count(log: PredictionLog) -> int:
    with log.engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM predictions")).scalar_one())


# --- the log (no model needed) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["positional", "core"])
def test_a_key_is_stored_with_its_rows_and_a_second_writer_loses_whole(tmp_path: Path, path: str) -> None:
    log = PredictionLog(_url(tmp_path))
    if path == "core":  # the named-parameter drivers' path
        log._positional_insert = None
    log.record(_rows("a" * 32, ["L1", "L2"]), NOW, client="crm", idempotent=_answer("k1", "a" * 32, client="crm"))
    stored = log.stored_answer("crm", "k1", NOW)
    assert (
        stored is not None
        and stored.request_id == "a" * 32
        and stored.answer == b'{"request_id": "' + b"a" * 32 + b'"}'
    )
    assert log.stored_answer("other-client", "k1", NOW) is None  # keys are per client
    # The same key again (a retry scored in another worker at the same time): refused, and none of its rows kept.
    with pytest.raises(IdempotencyConflict):
        log.record(
            _rows("b" * 32, ["L1", "L2", "L3"]), NOW, client="crm", idempotent=_answer("k1", "b" * 32, client="crm")
        )
    assert _count(log) == 2
    assert list(log.read()["client"]) == ["crm", "crm"]
    log.close()


def test_keys_survive_a_restart_and_expire(tmp_path: Path) -> None:
    log = PredictionLog(_url(tmp_path), idempotency_ttl=timedelta(hours=24))
    log.record(_rows("a" * 32, ["L1"]), NOW, idempotent=_answer("k1", "a" * 32))
    log.close()
    reopened = PredictionLog(_url(tmp_path), idempotency_ttl=timedelta(hours=24))  # another worker, or a restart
    assert reopened.stored_answer("", "k1", NOW + timedelta(hours=23)) is not None
    assert reopened.stored_answer("", "k1", NOW + timedelta(hours=24)) is None  # expired
    # An expired key can be used again; the old record is replaced.
    later = NOW + timedelta(hours=25)
    reopened.record(_rows("c" * 32, ["L1"]), later, idempotent=_answer("k1", "c" * 32, request_hash="h2"))
    stored = reopened.stored_answer("", "k1", later)
    assert stored is not None and stored.request_id == "c" * 32 and stored.request_hash == "h2"
    assert _count(reopened) == 2
    assert reopened.purge_expired(later + timedelta(hours=24)) == 1
    assert reopened.stored_answer("", "k1", later) is None
    reopened.close()


def test_an_older_log_gets_the_client_column(tmp_path: Path) -> None:
    engine = create_engine(_url(tmp_path))
    with engine.begin() as conn:  # the table as it was before clients had names
        conn.execute(
            text(
                "CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id VARCHAR(32) NOT NULL, endpoint "
                "VARCHAR(16) NOT NULL, lead_id VARCHAR(200) NOT NULL, model_version VARCHAR(64) NOT NULL, "
                "p_close FLOAT NOT NULL, stage VARCHAR(32), assigned_to VARCHAR(200), scored_at DATETIME NOT NULL)"
            )
        )
        conn.execute(
            text("INSERT INTO predictions VALUES (1, 'old', 'score', 'L0', '1', 0.5, NULL, NULL, '2026-01-01')")
        )
    engine.dispose()
    log = PredictionLog(_url(tmp_path))
    assert "client" in {c["name"] for c in inspect(log.engine).get_columns("predictions")}
    log.record(_rows("a" * 32, ["L1"]), NOW, client="crm")
    assert list(log.read()["client"].fillna("-")) == ["-", "crm"]
    log.close()


# --- the service --------------------------------------------------------------------------------------------------


def _rows_of(trained: Trained, request_id: str) -> int:
    engine = create_engine(trained.settings.resolved_prediction_db())
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT COUNT(*) FROM predictions WHERE request_id = :r"), {"r": request_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _total(trained: Trained) -> int:
    engine = create_engine(trained.settings.resolved_prediction_db())
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM predictions")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/score", "/rank"])
def test_a_retry_gets_the_same_answer_and_writes_no_rows(client: Any, trained: Trained, path: str) -> None:
    leads = request_leads(trained.history, 3, start=1200 if path == "/score" else 1300)
    body: dict[str, Any] = {"leads": leads}
    if path == "/rank":
        body["capacity"] = {"max_leads": 1}
    headers = {"Idempotency-Key": f"retry-{path[1:]}-0001", "content-type": "application/json"}
    first = client.post(path, content=json.dumps(body), headers=headers)
    assert first.status_code == 200, first.text
    assert "idempotency-replayed" not in first.headers
    request_id = first.json()["request_id"]
    total = _total(trained)
    assert _rows_of(trained, request_id) == 3
    # The retry: the same request, even formatted differently, gets the very same bytes back.
    retry = client.post(path, content=json.dumps(body, indent=2), headers=headers)
    assert retry.status_code == 200 and retry.headers["idempotency-replayed"] == "true"
    assert retry.content == first.content
    assert _total(trained) == total
    # Without the key, the same request is a new one.
    fresh = client.post(path, json=body)
    assert fresh.status_code == 200 and fresh.json()["request_id"] != request_id
    assert _total(trained) == total + 3


@pytest.mark.integration
def test_the_same_key_for_a_different_request_is_refused(client: Any, trained: Trained) -> None:
    lead = copy.deepcopy(LEAD_EXAMPLE)
    headers = {"Idempotency-Key": "reused-key-42"}
    assert client.post("/score", json={"leads": [lead]}, headers=headers).status_code == 200
    total = _total(trained)
    for path, body in (
        ("/score", {"leads": [{**lead, "source": "cold_call"}]}),
        ("/rank", {"leads": [lead], "capacity": {"hours": 10}}),  # the same leads on another endpoint
        ("/score", {"leads": [lead], "reasons": False}),  # the same leads, another answer asked for
    ):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "idempotency_key_reused"
        assert r.json()["problems"] == [
            {
                "path": "headers.idempotency-key",
                "message": "already used for a different request",
                "code": "idempotency_key_reused",
            }
        ]
        assert "request_id" in r.json()["error"]
    assert _total(trained) == total


@pytest.mark.integration
def test_keys_belong_to_their_client(client: Any, trained: Trained) -> None:
    guarded = TestClient(ApiGuard(client.app, tokens=["crm:tok-crm-0123456789", "web:tok-web-0123456789"]))
    lead = {**copy.deepcopy(LEAD_EXAMPLE), "lead_id": "LK"}
    for token, source in (("tok-crm-0123456789", "event"), ("tok-web-0123456789", "referral")):
        r = guarded.post(
            "/score",
            json={"leads": [{**lead, "source": source}]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "shared-key"},
        )
        # The second client's different request under the same key is its own, not a conflict.
        assert r.status_code == 200 and "idempotency-replayed" not in r.headers, r.text


@pytest.mark.integration
def test_a_retry_after_a_restart_is_still_recognised(client: Any, instance: Any, trained: Trained) -> None:
    headers = {"Idempotency-Key": "across-restarts"}
    body = {"leads": [{**copy.deepcopy(LEAD_EXAMPLE), "lead_id": "LR"}]}
    first = client.post("/score", json=body, headers=headers)
    assert first.status_code == 200
    old = instance.log
    instance.log = PredictionLog(old.url)  # a new process opens the same database
    try:
        retry = client.post("/score", json=body, headers=headers)
    finally:
        instance.log.close()
        instance.log = old
    assert retry.content == first.content and retry.headers["idempotency-replayed"] == "true"
