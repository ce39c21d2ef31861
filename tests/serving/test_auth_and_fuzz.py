"""Bearer-token auth on the real endpoints, and a property-based fuzz: no request body produces a 500."""

from __future__ import annotations

import copy
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from leadrank.settings import Settings
from serving.middleware import ApiGuard
from serving.schemas import LEAD_EXAMPLE

TOKENS = ["tok-alpha-123", "tok-beta-456"]

# These use the session's trained model (a real MLflow store) and the in-process service.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def guarded(client: Any) -> Iterator[TestClient]:
    """The running service behind a guard with tokens (no second start-up: the app's instance is shared)."""
    yield TestClient(ApiGuard(client.app, tokens=TOKENS))


def test_protected_endpoints_need_a_token(guarded: TestClient) -> None:
    body = {"leads": [LEAD_EXAMPLE]}
    for method, path, kwargs in (
        ("POST", "/score", {"json": body}),
        ("POST", "/rank", {"json": {**body, "capacity": {"hours": 5}}}),
        ("GET", "/model", {}),
    ):
        r = guarded.request(method, path, **kwargs)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["problems"][0]["path"] == "headers.authorization"
        for header in ("Bearer wrong", "Basic dG9rLWFscGhhLTEyMw==", "Bearer", TOKENS[0], f"Bearer {TOKENS[0]}x"):
            assert guarded.request(method, path, headers={"Authorization": header}, **kwargs).status_code == 401
        for token in TOKENS:
            r = guarded.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            assert r.status_code == 200, (path, r.text)


def test_health_and_docs_stay_open(guarded: TestClient) -> None:
    for path in ("/livez", "/readyz", "/docs.json"):
        assert guarded.get(path).status_code == 200, path


def test_tokens_are_compared_in_constant_time_against_all(guarded: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("serving.middleware.hmac.compare_digest", spy)
    guarded.get("/model", headers={"Authorization": f"Bearer {TOKENS[0]}"})
    # Every configured token is compared, even after the first one matched.
    assert [b for _, b in calls] == [t.encode() for t in TOKENS]


def test_tokens_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRANK_API_TOKENS", " one , two ,")

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never reached
        raise AssertionError

    assert ApiGuard(app).tokens == [b"one", b"two"]
    assert Settings().token_list() == ["one", "two"]  # the command line reads the same setting
    monkeypatch.setenv("LEADRANK_API_TOKENS", "")
    assert ApiGuard(app).tokens == []


# --- fuzz ---------------------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "2026-09-20T10:00:00Z", "2026-13-40", "NaN", "inbound_content", "L1"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
LEAD_KEYS = ["lead_id", "source", "created_at", "as_of", "attributes", "events", "deal_value"]


@st.composite
def mutated_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with a few keys of a lead, an event or an attribute replaced by arbitrary JSON."""
    lead = copy.deepcopy(LEAD_EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(["lead", "event", "attribute", "capacity"]))
        value = draw(json_values)
        if target == "lead":
            lead[draw(st.sampled_from([*LEAD_KEYS, "extra"]))] = value
        elif target == "event" and isinstance(lead.get("events"), list) and lead["events"]:
            event = lead["events"][0]
            if isinstance(event, dict):
                event[draw(st.sampled_from(["type", "ts", "asset", "x"]))] = value
        elif target == "attribute" and isinstance(lead.get("attributes"), dict):
            lead["attributes"][draw(st.sampled_from(["industry", "company_size", "country", "job_level", "z"]))] = value
        else:
            return {"leads": [lead], "capacity": value}
    return {"leads": [lead, {**copy.deepcopy(LEAD_EXAMPLE), "lead_id": "L2"}]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_bodies())
def test_fuzz_mutated_bodies_never_500(client: Any, body: dict[str, Any]) -> None:
    for path in ("/score", "/rank"):
        payload = body if path == "/rank" or "capacity" not in body else {"leads": body["leads"]}
        if path == "/rank" and "capacity" not in payload:
            payload = {**payload, "capacity": {"max_leads": 1}}
        r = client.post(path, content=json.dumps(payload), headers={"content-type": "application/json"})
        assert r.status_code in (200, 400, 413), (path, payload, r.text)
        assert isinstance(r.json(), dict)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values)
def test_fuzz_arbitrary_json_never_500(client: Any, body: Any) -> None:
    r = client.post("/score", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code in (200, 400), r.text
