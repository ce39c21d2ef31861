"""The service in-process (`TestClient(LeadScorer.to_asgi())`): every validation rule, the answers of /score,
/rank and /model, the prediction log, and parity with the registered MLflow pyfunc."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from features.records import flat_frame
from serving.schemas import LEAD_EXAMPLE
from tests.serving.session import MAX_BATCH, MAX_EVENTS, Trained, request_leads

# These use the session's trained model (a real MLflow store) and the in-process service.
pytestmark = pytest.mark.integration


def lead(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(LEAD_EXAMPLE)
    out.update(changes)
    return out


def problems(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) >= {"error", "problems"}, body
    return {p["path"]: p["message"] for p in body["problems"]}


def warnings_by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["code"]: w for w in body["warnings"]}


# --- /score: answers ------------------------------------------------------------------------------------------


def test_score_answers_probabilities_and_reasons(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 5)
    r = client.post("/score", json={"leads": leads})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == trained.mlflow_version
    assert len(body["request_id"]) == 32
    assert [x["lead_id"] for x in body["leads"]] == [x["lead_id"] for x in leads]
    for scored in body["leads"]:
        assert 0 < scored["p_close"] < 1
        assert scored["expected_hours"] > 0
        assert scored["expected_days_to_close"] is None or scored["expected_days_to_close"] >= 0
        up = [r for r in scored["reasons"] if r["direction"] == "up"]
        down = [r for r in scored["reasons"] if r["direction"] == "down"]
        assert len(up) <= 3 and len(down) <= 3 and up + down == scored["reasons"]
        assert all(r["effect"] > 0 for r in up) and all(r["effect"] < 0 for r in down)
        assert [r["effect"] for r in up] == sorted((r["effect"] for r in up), reverse=True)
        assert [r["effect"] for r in down] == sorted(r["effect"] for r in down)
        assert all(r["text"] and r["feature"] for r in scored["reasons"])
    # The simulator's post-decision touches (the leak trap) come after as_of: ignored and reported.
    assert {w["code"] for w in body["warnings"]} <= {"events_after_as_of"}


def test_score_without_reasons_gives_the_same_numbers(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 5)
    with_reasons = client.post("/score", json={"leads": leads})
    r = client.post("/score", json={"leads": leads, "reasons": False})
    assert r.status_code == 200 and with_reasons.status_code == 200, r.text
    plain, full = r.json(), with_reasons.json()
    assert [x["reasons"] for x in plain["leads"]] == [[]] * 5
    assert any(x["reasons"] for x in full["leads"])
    assert [x["lead_id"] for x in plain["leads"]] == [x["lead_id"] for x in full["leads"]]
    for k in ("p_close", "expected_hours", "expected_days_to_close"):
        # Equal to the last bits: with reasons the probability is summed from the contributions.
        assert [x[k] for x in plain["leads"]] == pytest.approx([x[k] for x in full["leads"]], rel=1e-12)
    assert plain["warnings"] == full["warnings"]
    # Explicitly true is the default.
    again = client.post("/score", json={"leads": leads, "reasons": True}).json()
    assert [x["reasons"] for x in again["leads"]] == [x["reasons"] for x in full["leads"]]


def test_score_matches_the_registered_pyfunc(client: Any, trained: Trained) -> None:
    import mlflow

    from leadrank.config import tracking_config
    from training.tracking import configure_tracking

    leads = request_leads(trained.history, MAX_BATCH, start=100)
    served = client.post("/score", json={"leads": leads}).json()["leads"]

    configure_tracking(tracking_config(trained.settings))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{trained.settings.model_name}/{trained.mlflow_version}")
    rows = flat_frame(leads)  # the pyfunc's request shape: attributes as columns
    expected = pyfunc.predict(rows)
    assert list(expected["lead_id"]) == [x["lead_id"] for x in served]
    # One lead a request too: those take their own way through LightGBM (the model's single-row path).
    one_by_one = [client.post("/score", json={"leads": [x]}).json()["leads"][0] for x in leads[:10]]
    for column in ("p_close", "expected_hours", "expected_days_to_close"):
        np.testing.assert_allclose([x[column] for x in served], expected[column].to_numpy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose([x[column] for x in one_by_one], expected[column][:10], rtol=0, atol=1e-9)


def test_as_of_defaults_to_now(client: Any) -> None:
    now = pd.Timestamp.now("UTC")
    recent = (now - pd.Timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = lead(events=[{"type": "demo_request", "ts": recent}])
    del item["as_of"]
    body = client.post("/score", json={"leads": [item]}).json()
    assert body["warnings"] == []  # two days ago is before now: the event counts
    earlier = (now - pd.Timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = client.post("/score", json={"leads": [{**item, "as_of": earlier}]}).json()
    assert [w["code"] for w in body["warnings"]] == ["events_after_as_of"]


# --- /score: problems with their JSON paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"leads": [lead(lead_id=5)]}, "leads[0].lead_id"),
        ({"leads": [{k: v for k, v in LEAD_EXAMPLE.items() if k != "lead_id"}]}, "leads[0].lead_id"),
        ({"leads": [lead(lead_id="")]}, "leads[0].lead_id"),
        ({"leads": [lead(source="")]}, "leads[0].source"),
        ({"leads": [lead(events={"type": "x"})]}, "leads[0].events"),
        ({"leads": [lead(events=[{"type": "", "ts": "2026-09-01T00:00:00Z"}])]}, "leads[0].events[0].type"),
        ({"leads": [lead(events=[{"type": "x", "ts": "now"}])]}, "leads[0].events[0].ts"),
        ({"leads": [lead(events=[{"type": "x", "ts": "2026-09-01T00:00:00Z", "url": "u"}])]}, "leads[0].events[0].url"),
        ({"leads": [lead(attributes={"industry": ["a"]})]}, "leads[0].attributes.industry"),
        ({"leads": [lead(attributes={"company_size": 10**30})]}, "leads[0].attributes.company_size"),
        ({"leads": [lead(deal_value=-1)]}, "leads[0].deal_value"),
        ({"leads": [lead(deal_value="12")]}, "leads[0].deal_value"),
        ({"leads": [lead(colour="red")]}, "leads[0].colour"),
        ({"leads": []}, "leads"),
        ({"lead": []}, "leads"),
        ({"leads": [lead()], "extra": 1}, "extra"),
        ({"leads": [lead()], "reasons": "no"}, "reasons"),
        ({"leads": [lead()], "reasons": 0}, "reasons"),
        ({"leads": [lead()], "reasons": None}, "reasons"),
    ],
)
def test_malformed_fields_are_400_with_their_path(client: Any, body: dict[str, Any], path: str) -> None:
    r = client.post("/score", json=body)
    assert r.status_code == 400, r.text
    assert path in problems(r), r.json()


def test_duplicate_lead_ids(client: Any) -> None:
    r = client.post("/score", json={"leads": [lead(), lead(lead_id="L2"), lead()]})
    assert r.status_code == 400
    assert problems(r) == {"leads[2].lead_id": "duplicate lead id 'L1' (first at leads[0])"}


@pytest.mark.parametrize("bad", ["2026-13-01T00:00:00Z", "2026-02-30", "2026-09-01Tnoon", "2026-09-01T10:00:00+25:00"])
def test_timestamps_that_do_not_parse(client: Any, bad: str) -> None:
    events = [{"type": "page_visit", "ts": "2026-09-01T10:00:00Z"}, {"type": "page_visit", "ts": bad}]
    r = client.post("/score", json={"leads": [lead(events=events), lead(lead_id="L2", created_at=bad)]})
    assert r.status_code == 400
    assert set(problems(r)) == {"leads[0].events[1].ts", "leads[1].created_at"}


def test_mixed_timestamp_spellings_are_read_alike(client: Any) -> None:
    same = ["2026-09-20T10:00:00Z", "2026-09-20T12:00:00+02:00", "2026-09-20T10:00:00", "2026-09-20 10:00:00"]
    answers = [
        client.post("/score", json={"leads": [lead(events=[{"type": "demo_request", "ts": ts}])]}).json() for ts in same
    ]
    assert len({a["leads"][0]["p_close"] for a in answers}) == 1


def test_nan_and_infinity_are_rejected(client: Any) -> None:
    for raw in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = json.dumps({"leads": [lead()]}).replace('"company_size": 120', f'"company_size": {raw}')
        r = client.post("/score", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (raw, r.text)
        assert "leads[0].attributes.company_size" in problems(r)
        body = json.dumps({"leads": [lead(deal_value=1.0)]}).replace('"deal_value": 1.0', f'"deal_value": {raw}')
        r = client.post("/score", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "leads[0].deal_value" in problems(r)


def test_attribute_of_the_wrong_type_is_400(client: Any) -> None:
    r = client.post(
        "/score",
        json={"leads": [lead(attributes={"company_size": "big", "industry": True}), lead(lead_id="L2")]},
    )
    assert r.status_code == 400
    found = problems(r)
    assert "must be a number" in found["leads[0].attributes.company_size"]
    assert "must be a text" in found["leads[0].attributes.industry"]


def test_numbers_as_text_are_numbers(client: Any) -> None:
    as_number = client.post("/score", json={"leads": [lead(attributes={"company_size": 120})]}).json()
    as_text = client.post("/score", json={"leads": [lead(attributes={"company_size": " 120 "})]}).json()
    assert as_text["leads"][0]["p_close"] == as_number["leads"][0]["p_close"]


def test_reserved_attribute_names_are_400(client: Any) -> None:
    r = client.post("/score", json={"leads": [lead(attributes={"source": "x", "industry": "software"})]})
    assert r.status_code == 400
    assert "leads[0].attributes.source" in problems(r)


def test_unknown_attributes_are_ignored_and_reported(client: Any) -> None:
    plain = client.post("/score", json={"leads": [lead()]}).json()
    r = client.post("/score", json={"leads": [lead(attributes={**LEAD_EXAMPLE["attributes"], "shoe_size": 44})]})
    assert r.status_code == 200
    body = r.json()
    assert body["leads"][0]["p_close"] == plain["leads"][0]["p_close"]
    warning = warnings_by_code(body)["unknown_attribute"]
    assert warning["paths"] == ["leads[0].attributes.shoe_size"] and "shoe_size" in warning["message"]


def test_unseen_categories_are_scored_and_reported(client: Any) -> None:
    attributes = {**LEAD_EXAMPLE["attributes"], "industry": "space mining"}
    r = client.post(
        "/score", json={"leads": [lead(attributes=attributes), lead(lead_id="L2", source="carrier_pigeon")]}
    )
    assert r.status_code == 200
    unseen = {w["paths"][0]: w for w in r.json()["warnings"] if w["code"] == "unseen_category"}
    assert set(unseen) == {"leads[0].attributes.industry", "leads[1].source"}
    assert "space mining" in unseen["leads[0].attributes.industry"]["message"]
    assert "carrier_pigeon" in unseen["leads[1].source"]["message"]
    # An unseen value is treated as missing: the same score as leaving it out.
    missing = {k: v for k, v in attributes.items() if k != "industry"}
    without = client.post("/score", json={"leads": [lead(attributes=missing)]}).json()
    assert r.json()["leads"][0]["p_close"] == without["leads"][0]["p_close"]


def test_events_after_as_of_are_ignored_and_reported(client: Any) -> None:
    base = lead()
    late = lead(
        events=[
            *LEAD_EXAMPLE["events"],
            {"type": "demo_request", "ts": "2026-10-05T00:00:00Z"},
            {"type": "meeting", "ts": "2026-09-30T12:00:00Z"},
        ]
    )
    r = client.post("/score", json={"leads": [late]})
    assert r.status_code == 200
    warning = warnings_by_code(r.json())["events_after_as_of"]
    assert warning["count"] == 2 and warning["paths"] == ["leads[0].events[3].ts", "leads[0].events[4].ts"]
    plain = client.post("/score", json={"leads": [base]}).json()
    assert r.json()["leads"][0]["p_close"] == plain["leads"][0]["p_close"]


def test_unknown_event_types_are_reported(client: Any) -> None:
    r = client.post("/score", json={"leads": [lead(events=[{"type": "carrier_pigeon", "ts": "2026-09-20T10:00:00Z"}])]})
    assert r.status_code == 200
    assert warnings_by_code(r.json())["unknown_event_type"]["paths"] == ["leads[0].events[0].type"]


def test_too_many_leads_is_413_naming_the_limit(client: Any) -> None:
    leads = [lead(lead_id=f"L{i}") for i in range(MAX_BATCH + 1)]
    r = client.post("/score", json={"leads": leads})
    assert r.status_code == 413
    assert "LEADRANK_MAX_BATCH" in r.json()["error"] and str(MAX_BATCH) in r.json()["error"]


def test_too_many_events_is_413_naming_the_limit(client: Any) -> None:
    events = [{"type": "page_visit", "ts": "2026-09-01T10:00:00Z"}] * (MAX_EVENTS + 1)
    r = client.post("/score", json={"leads": [lead(), lead(lead_id="L2", events=events)]})
    assert r.status_code == 413
    assert "LEADRANK_MAX_EVENTS_PER_LEAD" in r.json()["error"]
    assert list(problems(r)) == ["leads[1].events"]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"", "application/json", 400),
        (b"not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"null", "application/json", 400),
        (b'{"leads": [', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b'{"leads": [{"lead_id": "a"}]}', "text/plain", 415),
        (b"leads=1", "application/x-www-form-urlencoded", 415),
        (b"--x\r\n", "multipart/form-data; boundary=x", 415),
        (b"\x80\x04K\x01.", "application/vnd.bentoml+pickle", 415),
    ],
)
def test_malformed_bodies_get_a_4xx_never_a_500(client: Any, content: bytes, content_type: str, status: int) -> None:
    for path in ("/score", "/rank"):
        r = client.post(path, content=content, headers={"content-type": content_type})
        assert r.status_code == status, (path, r.text)
        assert r.json()["error"]


def test_huge_numbers_and_empty_strings(client: Any) -> None:
    r = client.post("/score", json={"leads": [lead(deal_value=1e308, attributes={"company_size": 2**53})]})
    assert r.status_code == 200
    r = client.post("/score", json={"leads": [lead(attributes={"industry": "", "company_size": ""})]})
    assert r.status_code == 400 and "leads[0].attributes.company_size" in problems(r)
    r = client.post("/rank", json={"leads": [lead()], "capacity": {"hours": 1e308}, "horizon_days": 1e308})
    assert r.status_code == 200, r.text


# --- /rank ------------------------------------------------------------------------------------------------------


def test_rank_with_an_hour_budget(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 30, start=300)
    r = client.post("/rank", json={"leads": leads, "capacity": {"hours": 40}})
    assert r.status_code == 200, r.text
    body = r.json()
    ranked = body["leads"]
    assert [x["rank"] for x in ranked] == list(range(1, 31))
    assert sorted(x["lead_id"] for x in ranked) == sorted(x["lead_id"] for x in leads)
    stages = [x["stage"] for x in ranked]
    assert stages == sorted(stages, key=["sales_ready", "marketing_qualified", "nurture"].index)
    ready = [x for x in ranked if x["stage"] == "sales_ready"]
    assert ready and sum(max(x["expected_hours"], 0.1) for x in ready) <= 40 + 1e-9
    summary = body["summary"]
    assert summary["leads_handed_off"] == len(ready)
    assert body["statement"] == summary["statement"] and "40 selling hours" in body["statement"]
    assert summary["cutoff_closes_per_hour"] == pytest.approx(min(x["closes_per_hour"] for x in ready))
    assert all(x["reasons"] for x in ranked)
    # The same handoff without reasons.
    plain = client.post("/rank", json={"leads": leads, "capacity": {"hours": 40}, "reasons": False}).json()
    assert [x["reasons"] for x in plain["leads"]] == [[]] * 30
    assert [x["lead_id"] for x in plain["leads"]] == [x["lead_id"] for x in ranked]
    assert [x["stage"] for x in plain["leads"]] == stages
    assert [x["p_close"] for x in plain["leads"]] == pytest.approx([x["p_close"] for x in ranked], rel=1e-12)
    assert plain["summary"]["leads_handed_off"] == summary["leads_handed_off"]


def test_rank_assigns_a_team_by_segment(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 30, start=400)
    countries = sorted({x["attributes"]["country"] for x in leads})
    sizes = [x["attributes"]["company_size"] for x in leads[:2]]
    team = [
        {"name": "Ana", "hours": 30, "segments": {"country": countries[:2]}},
        {"name": "Ben", "hours": 30, "max_leads": 3},
        {"name": "Cy", "hours": 30, "segments": {"company_size": sizes}},
    ]
    r = client.post("/rank", json={"leads": leads, "capacity": {"team": team}})
    assert r.status_code == 200, r.text
    by_id = {x["lead_id"]: x for x in leads}
    assigned = {name: 0 for name in ("Ana", "Ben", "Cy", None)}
    for ranked in r.json()["leads"]:
        assigned[ranked["assigned_to"]] += 1
        if ranked["assigned_to"] == "Ana":
            assert by_id[ranked["lead_id"]]["attributes"]["country"] in countries[:2]
        if ranked["assigned_to"] == "Cy":
            assert by_id[ranked["lead_id"]]["attributes"]["company_size"] in sizes
        assert (ranked["assigned_to"] is None) == (ranked["stage"] != "sales_ready")
    reps = {rep["name"]: rep for rep in r.json()["summary"]["reps"]}
    assert reps["Ben"]["leads"] <= 3
    assert r.json()["summary"]["team_assignment"] in ("exact", "heuristic")
    assert assigned["Cy"] >= 1  # numbers in a segment match the leads' numeric attribute


def test_rank_by_value_needs_deal_values(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 5, start=500)
    ok = client.post("/rank", json={"leads": leads, "capacity": {"max_leads": 2}, "objective": "value"})
    assert ok.status_code == 200
    assert all(x["expected_value"] is not None for x in ok.json()["leads"])
    del leads[3]["deal_value"]
    r = client.post("/rank", json={"leads": leads, "capacity": {"max_leads": 2}, "objective": "value"})
    assert r.status_code == 400 and list(problems(r)) == ["leads[3].deal_value"]


@pytest.mark.parametrize(
    ("capacity", "path"),
    [
        ({}, "capacity"),
        ({"hours": 10, "max_leads": 3}, "capacity"),
        ({"hours": -1}, "capacity.hours"),
        ({"hours": "10"}, "capacity.hours"),
        ({"max_leads": True}, "capacity.max_leads"),
        ({"team": []}, "capacity.team"),
        ({"team": [{"name": "A"}]}, "capacity.team[0].hours"),
        ({"team": [{"name": "A", "hours": 5, "segments": {"region": ["EU"]}}]}, "capacity.team[0].segments.region"),
        ({"weeks": 3}, "capacity.weeks"),
    ],
)
def test_rank_capacity_problems(client: Any, capacity: dict[str, Any], path: str) -> None:
    r = client.post("/rank", json={"leads": [lead()], "capacity": capacity})
    assert r.status_code == 400, r.text
    assert path in problems(r), r.json()


def test_rank_objective_and_horizon_are_checked(client: Any) -> None:
    r = client.post("/rank", json={"leads": [lead()], "capacity": {"hours": 5}, "objective": "revenue"})
    assert r.status_code == 400 and "objective" in problems(r)
    r = client.post("/rank", json={"leads": [lead()], "capacity": {"hours": 5}, "horizon_days": 0})
    assert r.status_code == 400 and "horizon_days" in problems(r)
    r = client.post("/rank", json={"leads": [lead()], "capacity": {"hours": 5}, "horizon_days": 30})
    assert r.status_code == 200
    assert r.json()["summary"]["expected_closes_within_horizon"] is not None


# --- /model, health, docs ---------------------------------------------------------------------------------------


def test_model_describes_the_served_model(client: Any, trained: Trained) -> None:
    r = client.get("/model")
    assert r.status_code == 200
    info = r.json()
    assert info["model_name"] == trained.settings.model_name
    assert info["mlflow_version"] == trained.mlflow_version
    assert info["bento_tag"] == trained.bento_tag
    assert info["trained_at"] and info["trained_at"].endswith("Z")
    assert info["data_fingerprint"]["leads"] == len(trained.history.leads)
    assert 0.5 < info["test_metrics"]["test_roc_auc"] <= 1
    assert "company_size" in info["feature_schema"]["feature_names"]
    assert info["limits"] == {"max_batch": MAX_BATCH, "max_events_per_lead": MAX_EVENTS}


def test_health_endpoints(client: Any) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_the_api_routes_make_no_tracing_spans_and_health_checks_keep_theirs(client: Any) -> None:
    # BentoML's default sample rate keeps no span; making them cost a tenth of a one-lead request.
    (tracing,) = [m for m in client.app.user_middleware if m.cls.__name__ == "OpenTelemetryMiddleware"]
    excluded = tracing.kwargs["excluded_urls"]
    for path in ("/score", "/rank", "/model"):
        assert excluded.url_disabled(f"http://127.0.0.1:3000{path}"), path
    for path in ("/livez", "/readyz", "/metrics", "/docs.json"):
        assert not excluded.url_disabled(f"http://127.0.0.1:3000{path}"), path


def test_openapi_describes_every_field_with_examples(client: Any) -> None:
    spec = client.get("/docs.json").json()
    assert {"/score", "/rank", "/model", "/livez", "/readyz"} <= set(spec["paths"])
    assert spec["paths"]["/score"]["post"]["description"].startswith("Score leads")
    schemas = spec["components"]["schemas"]
    for name in ("Lead", "Event", "Reason", "ScoredLead", "RankedLead", "RankSummary", "ModelInfo"):
        assert name in schemas, name
    for name in ("Lead", "Event", "Reason", "ScoredLead"):
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description") or prop.get("example") is not None or "$ref" in prop, (name, field)
    assert schemas["Lead"]["example"]["lead_id"] == "L1"


# --- the prediction log -----------------------------------------------------------------------------------------


def _log_rows(trained: Trained, request_id: str) -> pd.DataFrame:
    engine = create_engine(trained.settings.resolved_prediction_db())
    try:
        with engine.connect() as conn:
            return pd.read_sql(
                text("SELECT * FROM predictions WHERE request_id = :r ORDER BY id"), conn, params={"r": request_id}
            )
    finally:
        engine.dispose()


def test_every_scored_lead_is_logged(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 4, start=600)
    body = client.post("/score", json={"leads": leads}).json()
    rows = _log_rows(trained, body["request_id"])
    assert list(rows["lead_id"]) == [x["lead_id"] for x in leads]
    assert set(rows["endpoint"]) == {"score"} and set(rows["model_version"]) == {trained.mlflow_version}
    np.testing.assert_allclose(rows["p_close"], [x["p_close"] for x in body["leads"]])
    assert rows["stage"].isna().all() and rows["scored_at"].notna().all()
    # Nothing but the lead id identifies a lead.
    assert set(rows.columns) == {
        "id",
        "request_id",
        "endpoint",
        "lead_id",
        "model_version",
        "p_close",
        "stage",
        "assigned_to",
        "scored_at",
        "client",
    }
    assert rows["client"].isna().all()  # no tokens configured: no client to name


def test_rank_logs_stage_and_rep(client: Any, trained: Trained) -> None:
    leads = request_leads(trained.history, 6, start=700)
    body = client.post("/rank", json={"leads": leads, "capacity": {"team": [{"name": "Ana", "hours": 8}]}}).json()
    rows = _log_rows(trained, body["request_id"]).set_index("lead_id")
    for ranked in body["leads"]:
        row = rows.loc[ranked["lead_id"]]
        assert row["stage"] == ranked["stage"] and row["endpoint"] == "rank"
        assert (row["assigned_to"] if isinstance(row["assigned_to"], str) else None) == ranked["assigned_to"]


def test_rejected_requests_are_not_logged(client: Any, trained: Trained) -> None:
    engine = create_engine(trained.settings.resolved_prediction_db())
    with engine.connect() as conn:
        before = conn.execute(text("SELECT COUNT(*) FROM predictions")).scalar_one()
    client.post("/score", json={"leads": [lead(), lead()]})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM predictions")).scalar_one() == before
    engine.dispose()


def test_a_log_that_cannot_be_written_is_503(client: Any, instance: Any) -> None:
    from sqlalchemy import Table

    table: Table = instance.log.predictions
    broken = table.name
    with instance.log.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {broken} RENAME TO {broken}_away"))
    try:
        r = client.post("/score", json={"leads": [lead()]})
        assert r.status_code == 503
        assert "prediction log" in r.json()["error"] and "nothing was scored" in r.json()["error"]
        assert r.json()["code"] == "log_unavailable" and r.json()["problems"] == []
    finally:
        with instance.log.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {broken}_away RENAME TO {broken}"))
    assert client.post("/score", json={"leads": [lead()]}).status_code == 200


def test_sqlite_log_is_in_wal_mode(trained: Trained, client: Any) -> None:
    engine = create_engine(trained.settings.resolved_prediction_db())
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    engine.dispose()
