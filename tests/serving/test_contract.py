"""The API contract: `/docs.json` is a valid OpenAPI 3.1 document, and every error answer has the documented
shape, `{"error", "code", "problems": [{"path", "message", "code"}]}`, with the codes docs/api.md lists."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from starlette.testclient import TestClient

from serving.errors import ERROR_CODES, PROBLEM_CODES
from serving.middleware import ApiGuard
from serving.openapi import api_document
from serving.schemas import LEAD_EXAMPLE
from tests.serving.session import MAX_BATCH

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-contract-0123456789"


@pytest.fixture(scope="module")
def guarded(client: Any) -> Iterator[TestClient]:
    yield TestClient(ApiGuard(client.app, tokens=[f"crm:{TOKEN}"]))


def lead(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(LEAD_EXAMPLE), **changes}


def test_the_document_is_valid_openapi_for_the_version_it_declares(client: Any) -> None:
    spec = client.get("/docs.json").json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # picks the validator of the declared version
    assert spec["info"]["title"] == "leadrank" and "BentoML" not in spec["info"]["description"]
    # JSON Schema 2020-12 keywords, which made the 3.0.2 declaration invalid, are legal in 3.1.
    horizon = spec["components"]["schemas"]["RankRequest"]["properties"]["horizon_days"]
    assert horizon["anyOf"] == [{"exclusiveMinimum": 0, "type": "number"}, {"type": "null"}]


def _body_validator(spec: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def test_the_document_accepts_what_the_server_accepts(client: Any) -> None:
    # Found by schemathesis: BentoML's inline request schema dropped `null` from optional fields, so
    # `"horizon_days": null`, which the server takes, broke the document.
    spec = client.get("/docs.json").json()
    nulls = lead(created_at=None, as_of=None, deal_value=None, attributes={"industry": None})
    nulls["events"] = [{"type": "demo_request", "ts": "2026-09-27T08:45:00Z", "asset": None}]
    for path, body in (
        ("/score", {"leads": [nulls]}),
        ("/rank", {"leads": [nulls], "capacity": {"hours": 5, "max_leads": None}, "horizon_days": None}),
    ):
        _body_validator(spec, path).validate(body)
        r = client.post(path, json=body)
        assert r.status_code == 200, r.text
        _validator(spec, path, "post", 200).validate(r.json())


def test_declaring_3_0_for_the_same_document_would_be_invalid(client: Any) -> None:
    # Why the document says 3.1: the validator rejects the same text under 3.0 (as it did before the fix).
    spec = client.get("/docs.json").json()
    spec["openapi"] = "3.0.3"
    with pytest.raises((OpenAPIValidationError, jsonschema.exceptions.UnknownType)):
        validate(spec)


def test_with_tokens_the_document_declares_bearer_auth(guarded: TestClient) -> None:
    spec = guarded.get("/docs.json").json()
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "One of the tokens in LEADRANK_API_TOKENS.",
    }
    for path, method in (("/score", "post"), ("/rank", "post"), ("/model", "get")):
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}], path
        assert "401" in operation["responses"], path
    for path in ("/livez", "/readyz", "/metrics"):
        assert "security" not in spec["paths"][path]["get"], path
    assert TOKEN not in guarded.get("/docs.json").text


def test_api_operations_declare_every_error_they_answer(client: Any) -> None:
    spec = client.get("/docs.json").json()
    for path in ("/score", "/rank"):
        operation = spec["paths"][path]["post"]
        assert set(operation["responses"]) == {"200", "400", "413", "415", "422", "503"}, path
        (header,) = operation["parameters"]
        assert header["name"] == "Idempotency-Key" and header["in"] == "header"
    assert set(spec["paths"]["/model"]["get"]["responses"]) == {"200", "503"}
    # BentoML's own error bodies, which this API never sends, are gone.
    assert not {"InvalidArgument", "NotFound", "InternalServerError"} & set(spec["components"]["schemas"])


def test_api_document_is_a_pure_function_of_the_generated_one() -> None:
    generated = {
        "openapi": "3.0.2",
        "info": {"title": "x", "version": "None"},
        "paths": {"/score": {"post": {"responses": {"200": {"description": "ok"}, "500": {"description": "x"}}}}},
        "components": {"schemas": {"NotFound": {}}},
    }
    before = copy.deepcopy(generated)
    doc = api_document(generated, auth=False)
    assert generated == before  # not changed in place
    assert doc["openapi"] == "3.1.0" and "500" not in doc["paths"]["/score"]["post"]["responses"]
    assert "NotFound" not in doc["components"]["schemas"] and "ErrorBody" in doc["components"]["schemas"]
    assert "securitySchemes" not in doc["components"]
    validate(doc)


def _validator(spec: dict[str, Any], path: str, method: str, status: int) -> jsonschema.Draft202012Validator:
    response = spec["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


BAD = {"content-type": "application/json"}
# (request, status, top-level code, problem codes): one of each kind of error the API answers.
ERRORS: list[tuple[tuple[str, str, dict[str, Any]], int, str, set[str]]] = [
    (("post", "/score", {"content": b"{not json", "headers": BAD}), 400, "invalid_request", {"not_json"}),
    (("post", "/score", {"json": [1, 2]}), 400, "invalid_request", {"wrong_type"}),
    (("post", "/score", {"json": {"leads": [{"source": "event"}]}}), 400, "invalid_request", {"missing_field"}),
    (("post", "/score", {"json": {"leads": [lead(colour="red")]}}), 400, "invalid_request", {"unknown_field"}),
    (("post", "/score", {"json": {"leads": [lead(lead_id=7)]}}), 400, "invalid_request", {"wrong_type"}),
    (("post", "/score", {"json": {"leads": []}}), 400, "invalid_request", {"invalid_value"}),
    (
        ("post", "/score", {"json": {"leads": [lead(created_at="2026-13-01T00:00:00Z")]}}),
        400,
        "invalid_request",
        {"invalid_timestamp"},
    ),
    (("post", "/score", {"json": {"leads": [lead(), lead()]}}), 400, "invalid_request", {"duplicate_id"}),
    (
        ("post", "/score", {"json": {"leads": [lead(attributes={"company_size": "big"})]}}),
        400,
        "invalid_request",
        {"wrong_type"},
    ),
    (
        ("post", "/rank", {"json": {"leads": [lead()], "capacity": {"hours": 5}, "horizon_days": -1}}),
        400,
        "invalid_request",
        {"invalid_value"},
    ),
    (
        ("post", "/rank", {"json": {"leads": [lead()], "capacity": {"hours": 5}, "objective": "value"}}),
        400,
        "invalid_request",
        {"missing_field"},
    ),
    (
        ("post", "/score", {"json": {"leads": [lead(lead_id=f"L{k}") for k in range(MAX_BATCH + 1)]}}),
        413,
        "too_large",
        {"too_large"},
    ),
    (("post", "/score", {"content": b"{}", "headers": {"content-type": "text/plain"}}), 415, "not_json", {"not_json"}),
    (
        ("post", "/score", {"json": {"leads": [lead()]}, "headers": {"Idempotency-Key": "has spaces"}}),
        400,
        "invalid_request",
        {"invalid_value"},
    ),
]


@pytest.mark.parametrize(
    ("request_", "status", "code", "problem_codes"),
    ERRORS,
    ids=[f"{k}-{e[1]}-{'+'.join(sorted(e[3]))}" for k, e in enumerate(ERRORS)],
)
def test_every_error_has_the_documented_shape_and_codes(
    client: Any, request_: tuple[str, str, dict[str, Any]], status: int, code: str, problem_codes: set[str]
) -> None:
    method, path, kwargs = request_
    r = client.request(method.upper(), path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    _validator(client.get("/docs.json").json(), path, method, status).validate(body)
    assert body["code"] == code
    assert {p["code"] for p in body["problems"]} == problem_codes, body


def test_errors_outside_the_operations_have_the_same_shape(client: Any, guarded: TestClient) -> None:
    spec = guarded.get("/docs.json").json()
    error_body = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/ErrorBody", **spec})
    for http, method, path, status, code in (
        (client, "GET", "/score", 405, "method_not_allowed"),
        (client, "POST", "/nowhere", 404, "not_found"),
        (guarded, "POST", "/score", 401, "unauthorized"),
        (guarded, "GET", "/model", 401, "unauthorized"),
    ):
        r = http.request(method, path, json={"leads": [lead()]} if method == "POST" else None)
        assert r.status_code == status, (path, r.text)
        error_body.validate(r.json())
        assert r.json()["code"] == code
    _validator(spec, "/model", "get", 401).validate(guarded.get("/model").json())


def _documented_codes(heading: str) -> list[str]:
    """The codes in the first column of the table under `heading` in docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)


def test_docs_list_exactly_the_codes_the_api_uses() -> None:
    assert _documented_codes("### Error codes") == list(ERROR_CODES)
    assert _documented_codes("### Problem codes") == list(PROBLEM_CODES)
