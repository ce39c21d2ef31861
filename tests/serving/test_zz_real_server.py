"""One end-to-end run against a real BentoML server (`bentoml.serve` + `bentoml.SyncHTTPClient`).

Named to run last: it starts worker processes, which is the slowest thing in the serving tests.
"""

from __future__ import annotations

import socket
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from tests.serving.session import Trained, request_leads

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else value.model_dump()


def test_real_server_scores_ranks_describes_and_logs(trained: Trained, service_cls: Any) -> None:
    import bentoml

    leads = request_leads(trained.history, 8, start=900)
    port = _free_port()
    server = bentoml.serve(service_cls, host="127.0.0.1", port=port)
    with server, bentoml.SyncHTTPClient(server.url, server_ready_timeout=300) as client:
        assert client.is_ready()
        scored = _as_dict(client.score(leads=leads))
        assert [x["lead_id"] for x in scored["leads"]] == [x["lead_id"] for x in leads]
        assert all(0 < x["p_close"] < 1 and x["reasons"] for x in scored["leads"])

        ranked = client.request("POST", "/rank", json={"leads": leads, "capacity": {"max_leads": 3}})
        assert ranked.status_code == 200, ranked.text
        rank_body = ranked.json()
        assert [x["stage"] for x in rank_body["leads"]].count("sales_ready") == 3

        bad = client.request("POST", "/score", json={"leads": [{**leads[0], "lead_id": 7}]})
        assert bad.status_code == 400 and bad.json()["problems"][0]["path"] == "leads[0].lead_id"

        model = client.request("GET", "/model").json()
        assert model["bento_tag"] == trained.bento_tag and model["mlflow_version"] == trained.mlflow_version

        assert client.request("GET", "/livez").status_code == 200
        metrics = client.request("GET", "/metrics")
        assert metrics.status_code == 200 and 'endpoint="/score"' in metrics.text

    engine = create_engine(trained.settings.resolved_prediction_db())
    with engine.connect() as conn:
        rows = pd.read_sql(
            text("SELECT * FROM predictions WHERE request_id IN (:a, :b)"),
            conn,
            params={"a": scored["request_id"], "b": rank_body["request_id"]},
        )
    engine.dispose()
    assert len(rows) == 2 * len(leads)
    ranked_rows = rows[rows["endpoint"] == "rank"].set_index("lead_id")
    for lead in rank_body["leads"]:
        assert ranked_rows.loc[lead["lead_id"], "stage"] == lead["stage"]
    scored_rows = rows[rows["endpoint"] == "score"].set_index("lead_id")
    for lead in scored["leads"]:
        assert scored_rows.loc[lead["lead_id"], "p_close"] == pytest.approx(lead["p_close"], abs=1e-12)
