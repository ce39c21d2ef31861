"""Unit tests of the ASGI guard around a stand-in app: open paths, auth, body guards, error rewriting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from serving.middleware import ApiGuard, json_path, normalise_error_body


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers 200 with the body length, or replays a canned BentoML-style 400 for /invalid."""
    if scope["type"] == "lifespan":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/invalid":
        status = 400
        payload: Any = {
            "error": "2 validation errors for ScoreRequestIODescriptor",
            "detail": [
                {"type": "missing", "loc": ["leads", 0, "lead_id"], "msg": "Field required"},
                {
                    "type": "string_pattern_mismatch",
                    "loc": ["leads", 1, "events", 2, "ts"],
                    "msg": "String should match",
                },
            ],
        }
    elif scope["path"] == "/wrapped":
        status, payload = 415, [{"error": "not allowed"}]
    else:
        status, payload = 200, {"length": len(body)}
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})


def client(tokens: list[str] | None = None, max_body: int = 1000) -> TestClient:
    return TestClient(ApiGuard(echo_app, tokens=tokens or [], max_body=max_body))


def test_json_path() -> None:
    assert json_path(["leads", 0, "events", 12, "ts"]) == "leads[0].events[12].ts"
    assert json_path(["capacity", "team", 1, "segments", "country"]) == "capacity.team[1].segments.country"
    assert json_path([]) == "body"


def test_bentoml_validation_errors_get_the_api_format() -> None:
    r = client().post("/invalid", json={})
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid request: 2 problems",
        "code": "invalid_request",
        "problems": [
            {"path": "leads[0].lead_id", "message": "required", "code": "missing_field"},
            {
                "path": "leads[1].events[2].ts",
                "message": "expected an ISO 8601 timestamp like 2026-09-28T14:05:00Z",
                "code": "invalid_timestamp",
            },
        ],
    }
    assert int(r.headers["content-length"]) == len(r.content)
    r = client().post("/wrapped", json={})
    assert r.json() == {"error": "not allowed", "code": "not_json", "problems": []}


def test_own_error_bodies_pass_unchanged() -> None:
    own = {"error": "x", "code": "invalid_request", "problems": [{"path": "a", "message": "b", "code": "wrong_type"}]}
    assert normalise_error_body(400, own) is None


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"type": "missing", "loc": ["leads", 0, "source"], "msg": "Field required"}, "missing_field"),
        ({"type": "extra_forbidden", "loc": ["leads", 0, "x"], "msg": "Extra inputs"}, "unknown_field"),
        (
            {"type": "string_type", "loc": ["leads", 0, "lead_id"], "msg": "Input should be a valid string"},
            "wrong_type",
        ),
        ({"type": "model_type", "loc": [], "msg": "Input should be an object"}, "wrong_type"),
        ({"type": "json_invalid", "loc": [], "msg": "Invalid JSON: EOF"}, "not_json"),
        ({"type": "greater_than", "loc": ["horizon_days"], "msg": "Input should be greater than 0"}, "invalid_value"),
        ({"type": "value_error", "loc": ["leads", 0, "attributes", "a"], "msg": "Value error, NaN"}, "invalid_value"),
        ({"type": "string_pattern_mismatch", "loc": ["leads", 0, "as_of"], "msg": "should match"}, "invalid_timestamp"),
    ],
)
def test_pydantic_errors_get_a_stable_code(error: dict[str, Any], code: str) -> None:
    body = normalise_error_body(400, {"error": "x", "detail": [error]})
    assert body is not None and body["code"] == "invalid_request"
    assert [p["code"] for p in body["problems"]] == [code]


async def plain_text_app(scope: Any, receive: Any, send: Any) -> None:
    """Starlette's own answers to an unknown path or method: plain text."""
    status = 405 if scope["method"] == "GET" else 404
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"POST")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"Method Not Allowed" if status == 405 else b"Not Found"})


def test_plain_text_errors_get_the_api_format() -> None:
    guarded = TestClient(ApiGuard(plain_text_app, tokens=[]))
    r = guarded.get("/score")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.headers["content-type"] == "application/json" and int(r.headers["content-length"]) == len(r.content)
    assert r.json()["code"] == "method_not_allowed" and r.json()["problems"] == []
    r = guarded.post("/nowhere", json={})
    assert r.status_code == 404 and r.json()["code"] == "not_found" and "/score" in r.json()["error"]


def test_non_json_bodies_are_415() -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = client().post("/score", content=b"{}", headers={"content-type": content_type})
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        assert r.json()["code"] == "not_json" and r.json()["problems"][0]["code"] == "not_json"
    assert (
        client().post("/score", content=b"{}", headers={"content-type": "application/json; charset=utf-8"}).status_code
        == 200
    )
    assert (
        client().post("/score", content=b"{}", headers={"content-type": "application/problem+json"}).status_code == 200
    )


def test_large_bodies_are_413() -> None:
    r = client(max_body=10).post("/score", content=b"x" * 11, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "10 bytes" in r.json()["error"]
    assert r.json()["code"] == "too_large" and r.json()["problems"][0]["code"] == "too_large"

    def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 4

    r = client(max_body=10).post("/score", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client(max_body=10).post("/score", content=b"x" * 10).json() == {"length": 10}


def test_auth() -> None:
    guarded = client(tokens=["secret"])
    r = guarded.post("/score", json={})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.json()["problems"] == [
        {"path": "headers.authorization", "message": "send 'Authorization: Bearer <token>'", "code": "unauthorized"}
    ]
    assert guarded.post("/score", json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert guarded.post("/score", json={}, headers={"Authorization": "bearer secret"}).status_code == 200
    assert guarded.get("/model", headers={"Authorization": "Bearer secret"}).status_code == 200
    for path in ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/"):
        assert guarded.get(path).status_code == 200, path
    assert guarded.get("/livez/../model").status_code in (401, 404)


@pytest.mark.parametrize("path", ["/score/", "/Score", "/rank/submit", "/something"])
def test_everything_else_is_protected(path: str) -> None:
    assert client(tokens=["secret"]).post(path, json={}).status_code == 401


def test_batch_requests_past_the_queue_get_503_at_once_small_ones_never() -> None:
    """Of 6 concurrent batch requests with room for 2, 4 are refused at once (503 `overloaded`, Retry-After)
    while 2 are held by the app; small requests still pass; once one batch is answered, the next
    one is admitted again."""
    import asyncio

    import httpx

    from serving.middleware import BATCH_BODY_BYTES

    release = asyncio.Event()
    entered = 0

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal entered
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if len(body) > BATCH_BODY_BYTES:
            entered += 1
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    guard = ApiGuard(slow_app, tokens=[], batch_queue=2)
    big = json.dumps({"x": "y" * BATCH_BODY_BYTES}).encode()
    small = json.dumps({"x": "y"}).encode()
    headers = {"Content-Type": "application/json"}

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            held = [asyncio.create_task(http.post("/score", content=big, headers=headers)) for _ in range(6)]
            while entered < 2 or sum(t.done() for t in held) < 4:
                await asyncio.sleep(0.001)
            refused = [t.result() for t in held if t.done()]
            assert [r.status_code for r in refused] == [503] * 4
            assert all(r.json()["code"] == "overloaded" and r.json()["problems"] == [] for r in refused)
            assert all(1 <= int(r.headers["retry-after"]) <= 120 for r in refused)
            assert guard.batches == 2
            assert (await http.post("/score", content=small, headers=headers)).status_code == 200
            pending = [t for t in held if not t.done()]
            release.set()
            answered = [await t for t in pending]
            assert [r.status_code for r in answered] == [200, 200]
            assert guard.batches == 0
            assert (await http.post("/score", content=big, headers=headers)).status_code == 200

    asyncio.run(scenario())
