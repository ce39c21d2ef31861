"""/rank of 10,000 leads on a fresh 1-worker server, six requests in a row: the /rank part of bench_serving.py
alone, with the same model, request body and server set-up.

    .venv/bin/python bench/bench_rank_only.py
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
from pathlib import Path

from bench.bench_serving import bentoml_server, train_bench_model
from features.records import to_records
from simulator import simulate


def main() -> None:
    train_bench_model(Path(tempfile.mkdtemp(prefix="leadrank-rank-")))
    from serving.service import LeadScorer  # after train_bench_model: it names the model the service loads

    big = simulate(n_leads=10_500, seed=11)
    body = json.dumps({"leads": to_records(big.leads.head(10_000), big.events), "capacity": {"hours": 2000}})
    times = []
    with bentoml_server(LeadScorer, 1) as port:
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            t0 = time.perf_counter()
            conn.request("POST", "/rank", body.encode(), {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            times.append(time.perf_counter() - t0)
            assert response.status == 200
            conn.close()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"/rank of 10,000 leads: {', '.join(f'{t:.2f} s' for t in times)}; load average {load}")


if __name__ == "__main__":
    main()
