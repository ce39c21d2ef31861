"""Real servers under load: past capacity they refuse fast, and nothing a client was told is lost.

- Past capacity (`LEADRANK_BATCH_QUEUE=2`), a burst of concurrent batch requests: the ones past the queue get
  503 `overloaded` with Retry-After at once, none hangs, and the answered ones are right (the same scores as the
  same request sent alone).

- SIGKILL the whole server (`leadrank serve`, BentoML's arbiter and every worker) while clients send single-lead
  and batch requests; restart it on the same prediction log: every request answered 200 has all its rows in the
  log (counted by request id), and SQLite's `PRAGMA integrity_check` says ok. With 1 and with 2 workers.
- The log becomes unwritable while clients send requests (its table renamed away from outside): those requests
  get 503 `log_unavailable`, never a 200 without a record; once it is back, requests are answered and logged.

Named `zz` to run last: it starts server processes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.middleware import BATCH_BODY_BYTES
from tests.serving.live import kill_server, leadrank_serve
from tests.serving.session import MAX_BATCH, Trained, request_leads

pytestmark = pytest.mark.integration


class Load:
    """Clients in a background thread: single-lead /score, batch /score (MAX_BATCH leads) and /rank, until
    stopped. `answered` maps the request id of every 200 to how many leads it scored."""

    def __init__(self, url: str, leads: list[dict[str, Any]], clients: int = 6) -> None:
        self.url = url
        singles = [json.dumps({"leads": [lead]}).encode() for lead in leads]
        batch = [json.dumps({"leads": leads[k : k + MAX_BATCH]}).encode() for k in range(0, 120, MAX_BATCH)]
        ranked = json.dumps({"leads": leads[:MAX_BATCH], "capacity": {"max_leads": 5}}).encode()
        self.bodies = [("/score", b, 1) for b in singles[:60]] + [("/score", b, MAX_BATCH) for b in batch]
        self.bodies.append(("/rank", ranked, MAX_BATCH))
        self.clients = clients
        self.answered: dict[str, int] = {}
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()
        self.failures = 0  # no answer at all (connection refused or reset: the server was killed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _client(self, slot: int, http: httpx.AsyncClient) -> None:
        k = slot
        while not self._stop.is_set():
            path, body, n = self.bodies[k % len(self.bodies)]
            k += 7
            try:
                response = await http.post(self.url + path, content=body)
            except httpx.HTTPError:
                self.failures += 1
                await asyncio.sleep(0.05)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code == 200:
                self.answered[response.json()["request_id"]] = n
            else:
                self.codes[response.json()["code"]] += 1

    async def _run(self) -> None:
        headers = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            await asyncio.gather(*(self._client(slot, http) for slot in range(self.clients)))

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.statuses}, {self.codes}"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=90)
        assert not self._thread.is_alive(), "a client hung"


@contextmanager
def load(url: str, leads: list[dict[str, Any]]) -> Iterator[Load]:
    running = Load(url, leads)
    running._thread.start()
    try:
        yield running
    finally:
        running.stop()


def _logged(db: Path) -> tuple[Counter[str], str]:
    with sqlite3.connect(db) as conn:
        counts = Counter(dict(conn.execute("SELECT request_id, COUNT(*) FROM predictions GROUP BY request_id")))
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return counts, integrity


def _errors(output: Path) -> list[str]:
    return [line for line in output.read_text(errors="replace").splitlines() if "ERROR" in line or "rror:" in line]


def _missing(answered: dict[str, int], logged: Counter[str]) -> dict[str, tuple[int, int]]:
    return {rid: (n, logged[rid]) for rid, n in answered.items() if logged[rid] != n}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_server_lost_no_answered_request(trained: Trained, tmp_path: Path, workers: int) -> None:
    db = tmp_path / "predictions.db"
    env = {"LEADRANK_PREDICTION_DB": f"sqlite:///{db}"}
    leads = request_leads(trained.history, 200, start=1000)
    output = tmp_path / "server.log"
    with leadrank_serve(output, workers, env) as server:
        server.wait_ready()
        with load(server.url, leads) as clients:
            clients.wait_for(
                lambda: len(clients.answered) >= 40 and sum(n == MAX_BATCH for n in clients.answered.values()) >= 3,
                "40 answers, 3 of them batches",
                timeout=120,
            )
            kill_server(server.process)
        with pytest.raises(httpx.ConnectError):  # nothing is left to answer on the port
            httpx.get(f"{server.url}/livez", timeout=5)
    answered = dict(clients.answered)
    assert set(clients.statuses) == {200}, (clients.statuses, clients.codes, _errors(output))
    assert any(n == MAX_BATCH for n in answered.values()) and any(n == 1 for n in answered.values())

    with leadrank_serve(output, workers, env) as again:
        again.wait_ready()
        response = httpx.post(f"{again.url}/score", json={"leads": leads[:1]}, timeout=60)
        assert response.status_code == 200, response.text
        answered[response.json()["request_id"]] = 1

    logged, integrity = _logged(db)
    assert integrity == "ok"
    assert _missing(answered, logged) == {}


def test_an_unwritable_log_under_load_is_503_never_200_without_rows(trained: Trained, tmp_path: Path) -> None:
    db = tmp_path / "predictions.db"
    leads = request_leads(trained.history, 200, start=1400)
    with leadrank_serve(tmp_path / "server.log", 1, {"LEADRANK_PREDICTION_DB": f"sqlite:///{db}"}) as server:
        server.wait_ready()
        with load(server.url, leads) as clients:
            clients.wait_for(lambda: len(clients.answered) >= 10, "10 answers")
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute("ALTER TABLE predictions RENAME TO predictions_away")
            conn.close()
            clients.wait_for(lambda: clients.statuses[503] >= 10, "10 answers 503")
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute("ALTER TABLE predictions_away RENAME TO predictions")
            conn.close()
            before = len(clients.answered)
            clients.wait_for(lambda: len(clients.answered) >= before + 10, "10 more answers after the repair")
    assert set(clients.statuses) == {200, 503}, clients.statuses
    assert set(clients.codes) == {"log_unavailable"}, clients.codes
    assert clients.failures == 0
    logged, integrity = _logged(db)
    assert integrity == "ok"
    assert _missing(clients.answered, logged) == {}


def test_past_capacity_batch_requests_get_503_at_once_and_the_answered_are_right(
    trained: Trained, tmp_path: Path
) -> None:
    candidates = request_leads(trained.history, 400, start=200)
    busiest = sorted(candidates, key=lambda lead: -len(lead["events"]))[:MAX_BATCH]
    body = json.dumps({"leads": busiest}).encode()
    assert len(body) > BATCH_BODY_BYTES  # a batch request
    env = {"LEADRANK_PREDICTION_DB": f"sqlite:///{tmp_path / 'predictions.db'}", "LEADRANK_BATCH_QUEUE": "2"}
    headers = {"Content-Type": "application/json"}

    async def burst(url: str, n: int) -> list[tuple[int, float, httpx.Response]]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as http:

            async def one() -> tuple[int, float, httpx.Response]:
                started = time.perf_counter()
                response = await http.post(f"{url}/score", content=body, headers=headers)
                return response.status_code, time.perf_counter() - started, response

            return list(await asyncio.gather(*(one() for _ in range(n))))

    with leadrank_serve(tmp_path / "server.log", 1, env) as server:
        server.wait_ready()
        results = asyncio.run(burst(server.url, 16))
        alone = httpx.post(f"{server.url}/score", content=body, headers=headers, timeout=60)
    assert alone.status_code == 200, alone.text
    expected = [(x["lead_id"], x["p_close"]) for x in alone.json()["leads"]]

    refused = [(seconds, r) for status, seconds, r in results if status == 503]
    answered = [(seconds, r) for status, seconds, r in results if status == 200]
    assert len(refused) + len(answered) == len(results), [status for status, _, _ in results]
    assert refused and len(answered) >= 2
    for _, response in refused:
        assert response.json()["code"] == "overloaded"
        assert 1 <= int(response.headers["Retry-After"]) <= 120
    # At once: sooner than the answered requests took (each waits for its turn to be parsed and scored).
    assert max(seconds for seconds, _ in refused) < max(seconds for seconds, _ in answered)
    for _, response in answered:
        assert [(x["lead_id"], x["p_close"]) for x in response.json()["leads"]] == expected
