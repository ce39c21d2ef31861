"""Benchmark of the BentoML scoring service against `mlflow models serve` on the same model, same machine.

    .venv/bin/python bench/bench_serving.py                 # full run (about 10 minutes on the 2-core box)
    .venv/bin/python bench/bench_serving.py --quick         # fewer requests, no 2-worker runs
    .venv/bin/python bench/bench_serving.py --profile       # also print pyinstrument profiles of the hot paths
    .venv/bin/python bench/bench_serving.py --floors-only   # only the in-process pyfunc vs engine comparison

What it does, all in one session:

1. Simulates 6,000 leads, trains and registers a model in a temp MLflow store, imports it into a temp BentoML
   store (nothing touches ~/bentoml or the working directory).
2. In-process floors on the same single-lead requests: the registered pyfunc's own `predict`, and the service's
   scoring engine (`ScoringEngine.score`, what /score runs, minus HTTP and the prediction log), taking turns.
3. Single-lead POST /score over HTTP at concurrency 1 and 8, with 1 and 2 BentoML workers, with reasons (the
   default) and without (`"reasons": false`: the numbers alone, the peer's answer); the same lead as
   POST /invocations (`dataframe_records`, the pyfunc's input shape) against `mlflow models serve
   --env-manager local` with 1 and 2 workers. One load generator for all: threads with keep-alive
   connections to 127.0.0.1, a fixed number of requests per run and a time cap.
4. BentoML's floor: the same bodies against an endpoint that validates them and answers a constant.
   Adaptive batching: the same scoring behind a `batchable=True` BentoML endpoint (`BatchedScorer` below).
5. POST /rank with 10,000 leads and their events (about 25 MB of JSON), end to end.

Every HTTP row also gives the CPU time per request of the server's processes and of the load generator (the
in-process rows: of the call itself), and "Where the CPU goes" splits each side into the model call measured in
process and the rest (`cpu_split`).

Results go to stdout as Markdown (recorded runs are in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
import numpy as np
import pandas as pd
import psutil
from starlette.responses import Response

from features.records import flat_frame, to_records
from leadrank.settings import Settings
from serving.inputs import Limits
from serving.middleware import ApiGuard, bentoml_options
from serving.model_store import ImportedModel, load_model, model_tag_from_env, stored_model
from serving.predictions import PredictionLog
from serving.schemas import Lead, ScoreRequest, ScoreResponse
from serving.scoring import ScoringEngine
from simulator import SimulatedHistory

ROOT = Path(__file__).resolve().parent.parent


# --- the adaptive-batching variant ----------------------------------------------------------------------------


@bentoml.service(name="leadrank-batched", **bentoml_options())
class BatchedScorer:
    """POST /score with BentoML's adaptive batching: concurrent requests are merged into one model call.

    The answer is the list of scored leads only (a batchable endpoint maps a list to a list), and a bad lead
    fails the whole merged batch: acceptable for measuring, one reason it is not the production endpoint.
    """

    model_ref = bentoml.models.BentoModel(model_tag_from_env())

    def __init__(self) -> None:
        settings = Settings()
        loaded = load_model(stored_model(str(type(self).model_ref.tag)))
        limits = Limits(settings.max_batch, settings.max_events_per_lead)
        self.engine = ScoringEngine(loaded.model, loaded.model_version, limits)
        self.log = PredictionLog(settings.resolved_prediction_db())

    @bentoml.api(route="/score", batchable=True, max_batch_size=32, max_latency_ms=300)
    def score(self, leads: list[Lead]) -> list[dict[str, Any]]:
        answer = self.engine.score(leads, time.time_ns() // 1000)
        self.log.record(answer.log_rows)
        scored: list[dict[str, Any]] = answer.body["leads"]
        return scored


@bentoml.service(name="leadrank-floor", **bentoml_options())
class FloorService:
    """BentoML's own floor: the same request body validated into the same `Lead` models behind the same
    middleware, and a constant answer; what is left of /score's time above it is the service's own."""

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, leads: list[Lead], reasons: bool = True) -> Response:
        return Response(b'{"leads": []}', media_type="application/json")


_floor: Any = FloorService
_floor.add_asgi_middleware(ApiGuard)


# --- load generator -----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    label: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray
    error_statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count, for answers not 200
    cpu_ms: np.ndarray | None = None  # in-process runs: the thread's CPU time of each call
    # HTTP runs: CPU time per request of the server's processes (all of them: workers, supervisor) and of this
    # process, the load generator (its threads do nothing else during a run).
    server_cpu_ms: float = float("nan")
    client_cpu_ms: float = float("nan")

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


def run_load(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    concurrency: int,
    n_requests: int,
    max_seconds: float,
    label: str,
    warmup: int = 30,
) -> LoadResult:
    """POST `bodies` (cycled) to 127.0.0.1:`port` from `concurrency` threads; at most `n_requests` or
    `max_seconds`, whichever comes first."""
    headers = {"Content-Type": "application/json"}

    def one(conn: http.client.HTTPConnection, body: bytes) -> int:
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        return response.status

    warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for k in range(warmup):
        one(warm, bodies[k % len(bodies)])
    warm.close()

    counter = itertools.count()
    deadline = time.perf_counter() + max_seconds
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[Counter[int]] = [Counter() for _ in range(concurrency)]

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < deadline:
            k = next(counter)
            if k >= n_requests:
                break
            t0 = time.perf_counter()
            status = one(conn, bodies[k % len(bodies)])
            latencies[slot].append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errors[slot][status] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    server0, client0 = server_cpu_seconds(), time.process_time()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    server_cpu, client_cpu = server_cpu_seconds() - server0, time.process_time() - client0
    flat = np.array([x for lat in latencies for x in lat])
    statuses = sum(errors, Counter())
    per_request = 1000 / max(len(flat), 1)
    return LoadResult(
        label,
        concurrency,
        len(flat),
        sum(statuses.values()),
        seconds,
        flat,
        dict(statuses),
        server_cpu_ms=server_cpu * per_request,
        client_cpu_ms=client_cpu * per_request,
    )


def server_cpu_seconds() -> float:
    """User + system CPU time of every process this one started (the one server running, its workers)."""
    total = 0.0
    for process in psutil.Process().children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.Error:  # gone between listing and reading
            continue
        total += times.user + times.system
    return total


def in_process(calls: dict[str, Callable[[int], Any]], n: int) -> list[LoadResult]:
    """Each call n times, the calls taking turns (a, b, a, b, ...) so that a change in the machine's load weighs
    on all of them alike. Records wall time and the thread's CPU time of each call (on a busy machine the CPU time
    leaves out the waits for a core)."""
    for k in range(20):
        for call in calls.values():
            call(k)
    lat: dict[str, list[float]] = {label: [] for label in calls}
    cpu: dict[str, list[float]] = {label: [] for label in calls}
    for k in range(n):
        for label, call in calls.items():
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            call(k)
            lat[label].append((time.perf_counter_ns() - t0) / 1e6)
            cpu[label].append((time.thread_time_ns() - c0) / 1e6)
    return [
        LoadResult(label, 1, n, 0, sum(v) / 1000, np.array(v), cpu_ms=np.array(cpu[label])) for label, v in lat.items()
    ]


# --- servers ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, path: str, timeout: float = 300) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s")


@contextmanager
def bentoml_server(service: Any, workers: int) -> Iterator[int]:
    port = free_port()
    saved = dict(service.config)
    service.config["workers"] = workers
    server = bentoml.serve(service, host="127.0.0.1", port=port)
    service.config.clear()
    service.config.update(saved)
    try:
        took = wait_ready(port, "/readyz")
        print(f"  {service.name} with {workers} worker(s) ready in {took:.0f} s", file=sys.stderr)
        yield port
    finally:
        server.stop()


@contextmanager
def mlflow_server(model_uri: str, tracking_uri: str, workers: int) -> Iterator[int]:
    port = free_port()
    # mlflow execs `uvicorn` by name: the virtualenv's bin directory must be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        took = wait_ready(port, "/ping")
        print(f"  mlflow models serve with {workers} worker(s) ready in {took:.0f} s", file=sys.stderr)
        yield port
    finally:
        # Our own child's process group: the uvicorn workers it started go with it.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


# --- data -----------------------------------------------------------------------------------------------------


def pyfunc_record(item: dict[str, Any]) -> dict[str, Any]:
    """The same lead in the pyfunc's input shape (`features.records.flat_frame`: attributes as columns)."""
    return {str(key): value for key, value in flat_frame([item]).iloc[0].to_dict().items()}


# --- report -------------------------------------------------------------------------------------------------


def cpu_split(results: list[LoadResult]) -> str:
    """What each side spends per request at concurrency 8 (the best setups): the model call as measured in process
    (x: the engine, y: the pyfunc) and the rest of the server's CPU time (O, F), and the load generator's (L).
    When both servers are CPU-bound the throughput ratio follows (F + y + L_peer) / (O + x + L_ours). The in-process
    calls and the HTTP runs are minutes apart, so on a shared machine the split moves with the load between them."""
    by_label = {(r.label, r.concurrency): r for r in results}
    engine, pyfunc = by_label[("in-process: ScoringEngine.score", 1)], by_label[("in-process: pyfunc.predict", 1)]
    assert engine.cpu_ms is not None and pyfunc.cpu_ms is not None
    x, y = float(np.mean(engine.cpu_ms)), float(np.mean(pyfunc.cpu_ms))

    def best(prefix: str) -> LoadResult:
        return max(
            (r for r in results if r.label.startswith(prefix) and r.concurrency == 8), key=lambda r: r.throughput
        )

    ours, plain, peer = best("BentoML /score,"), best("BentoML /score without reasons"), best("mlflow")
    floor = by_label[("BentoML floor: constant answer, 1 worker", 1)]
    lines = [
        "\n### Where the CPU goes at concurrency 8\n",
        f"- ours ({ours.label}): {ours.server_cpu_ms:.2f} ms of server CPU per request = engine {x:.2f} ms (in "
        f"process) + the rest {ours.server_cpu_ms - x:.2f} ms (BentoML, parsing, the answer, the prediction log; "
        f"BentoML's floor alone: {floor.server_cpu_ms:.2f} ms); load generator {ours.client_cpu_ms:.2f} ms",
        f"- ours without reasons ({plain.label}): {plain.server_cpu_ms:.2f} ms of server CPU per request; load "
        f"generator {plain.client_cpu_ms:.2f} ms",
        f"- peer ({peer.label}): {peer.server_cpu_ms:.2f} ms = pyfunc.predict {y:.2f} ms (in process) + the rest "
        f"{peer.server_cpu_ms - y:.2f} ms (MLflow's server: parsing the records into a DataFrame, answering); "
        f"load generator {peer.client_cpu_ms:.2f} ms",
    ]
    peer_total = peer.server_cpu_ms + peer.client_cpu_ms
    for mine in (ours, plain):
        mine_total = mine.server_cpu_ms + mine.client_cpu_ms
        lines.append(
            f"- {mine.label}: CPU per request, peer / ours {peer_total / mine_total:.2f}x; "
            f"throughput ratio measured {mine.throughput / peer.throughput:.2f}x"
        )
    return "\n".join(lines)


def row(result: LoadResult) -> str:
    if result.cpu_ms is not None:  # in-process: the CPU time of the calls themselves
        cpu = f"{np.mean(result.cpu_ms):.2f} | -"
    else:
        cpu = f"{result.server_cpu_ms:.2f} | {result.client_cpu_ms:.2f}"
    return (
        f"| {result.label} | {result.concurrency} | {result.requests:,} | {result.throughput:,.0f} | "
        f"{result.pct(50):.2f} | {result.pct(90):.2f} | {result.pct(99):.2f} | {cpu} | {result.errors}"
        + "".join(f" (HTTP {status}: {n})" for status, n in sorted(result.error_statuses.items()))
        + " |"
    )


def profile(title: str, call: Callable[[], Any], repeat: int) -> str:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(repeat):
        call()
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False).strip()
    return f"\n#### Profile: {title} ({repeat} calls)\n\n```\n{text}\n```"


@dataclass(frozen=True)
class BenchModel:
    history: SimulatedHistory
    settings: Settings
    imported: ImportedModel
    items: list[dict[str, Any]]  # single-lead request items


def train_bench_model(workdir: Path) -> BenchModel:
    """Simulate 6,000 leads, train and register a model in `workdir` and import it into a BentoML store there;
    this process's environment (and so every server it starts) points at them. The single-lead requests are the
    most recent 300 leads, at their decision time."""
    os.environ.update(
        {
            "LEADRANK_HOME": str(workdir),
            "BENTOML_HOME": str(workdir / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
        }
    )
    for name in ("MLFLOW_TRACKING_URI", "LEADRANK_TRACKING_URI", "LEADRANK_PREDICTION_DB", "LEADRANK_API_TOKENS"):
        os.environ.pop(name, None)

    from features.contract import LeadBatch
    from leadrank.config import gate_policy, tracking_config
    from serving.model_store import BENTO_MODEL_ENV, import_model
    from simulator import simulate
    from training.pipeline import TrainingData, TrainOptions
    from training.tracking_run import train_and_log

    print(f"working in {workdir}; training a model ...", file=sys.stderr)
    history = simulate(n_leads=6000, seed=3)
    settings = Settings(home=workdir, min_closed_leads=200, min_wins=20)
    data = TrainingData(batch=LeadBatch(history.leads, history.events))
    train_and_log(data, tracking_config(settings), gate_policy(settings), TrainOptions(seed=1))
    imported = import_model(settings.resolved_tracking_uri(), settings.model_name)
    os.environ[BENTO_MODEL_ENV] = imported.tag
    recent = history.leads.sort_values("decided_at").tail(300)
    return BenchModel(history, settings, imported, to_records(recent, history.events))


def single_lead_bodies(items: list[dict[str, Any]], **options: Any) -> list[bytes]:
    """One /score body per lead; `options` are further request fields (e.g. reasons=False)."""
    return [json.dumps({"leads": [item], **options}).encode() for item in items]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, no 2-worker runs")
    parser.add_argument("--profile", action="store_true", help="print pyinstrument profiles of the hot paths")
    parser.add_argument(
        "--floors-only", action="store_true", help="only the in-process pyfunc vs engine comparison, then stop"
    )
    parser.add_argument("--rank-leads", type=int, default=10_000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "out" / "bench-serving.md", help="where the report goes"
    )
    args = parser.parse_args(argv)
    n1, n8, cap = (300, 1000, 30.0) if args.quick else (1500, 4000, 60.0)
    worker_counts = (1,) if args.quick else (1, 2)

    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model = train_bench_model(workdir)
    settings, imported, items = model.settings, model.imported, model.items
    tracking_uri = settings.resolved_tracking_uri()
    model_uri = f"models:/{settings.model_name}/{imported.mlflow_version}"
    score_bodies = single_lead_bodies(items)
    # The same leads asking for the numbers alone: what the MLflow peer answers.
    plain_bodies = single_lead_bodies(items, reasons=False)

    import mlflow

    from simulator import simulate

    mlflow_bodies = [json.dumps({"dataframe_records": [pyfunc_record(item)]}).encode() for item in items]
    events_per_lead = np.mean([len(i["events"]) for i in items])

    results: list[LoadResult] = []
    # In-process floors.
    mlflow.set_tracking_uri(tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    frames = [pd.DataFrame([pyfunc_record(item)]) for item in items]
    frames = [f.astype({"company_size": "float64"}) for f in frames]
    loaded = load_model(stored_model(imported.tag))
    engine = ScoringEngine(loaded.model, loaded.model_version, Limits(10_000, 5_000))
    leads = [[Lead.model_validate(item)] for item in items]
    now = time.time_ns() // 1000
    results += in_process(
        {
            "in-process: pyfunc.predict": lambda k: pyfunc.predict(frames[k % len(frames)]),
            "in-process: ScoringEngine.score": lambda k: engine.score(leads[k % len(leads)], now),
        },
        n1,
    )
    if args.floors_only:
        floors = {r.label: r for r in results}
        py, eng = floors["in-process: pyfunc.predict"], floors["in-process: ScoringEngine.score"]
        assert py.cpu_ms is not None and eng.cpu_ms is not None
        py_cpu, eng_cpu = np.median(py.cpu_ms), np.median(eng.cpu_ms)
        print(
            f"pyfunc.predict p50 {py.pct(50):.3f} ms, ScoringEngine.score p50 {eng.pct(50):.3f} ms: "
            f"{py.pct(50) / eng.pct(50):.2f}x; CPU time p50 {py_cpu:.3f} vs {eng_cpu:.3f} ms: {py_cpu / eng_cpu:.2f}x "
            f"({n1} calls each, taking turns; load average {os.getloadavg()[0]:.1f})"
        )
        return

    from serving.service import LeadScorer

    service: Any = LeadScorer
    batched: Any = BatchedScorer
    with bentoml_server(_floor, 1) as port:
        results.append(run_load(port, "/score", score_bodies, 1, n1, cap, "BentoML floor: constant answer, 1 worker"))
    for workers in worker_counts:
        plural = "s" if workers > 1 else ""
        with bentoml_server(service, workers) as port:
            for c, n in ((1, n1), (8, n8)):
                label = f"BentoML /score, {workers} worker{plural}"
                results.append(run_load(port, "/score", score_bodies, c, n, cap, label))
            for c, n in ((1, n1), (8, n8)):
                label = f"BentoML /score without reasons, {workers} worker{plural}"
                results.append(run_load(port, "/score", plain_bodies, c, n, cap, label))
    for workers in worker_counts:
        with mlflow_server(model_uri, tracking_uri, workers) as port:
            for c, n in ((1, n1), (8, n8)):
                label = f"mlflow models serve /invocations, {workers} worker{'s' if workers > 1 else ''}"
                results.append(run_load(port, "/invocations", mlflow_bodies, c, n, cap, label))
    with bentoml_server(batched, 1) as port:
        for c, n in ((1, n1), (8, n8)):
            results.append(
                run_load(port, "/score", score_bodies, c, n, cap, "BentoML /score, adaptive batching, 1 worker")
            )

    # /rank with 10,000 leads and their events.
    big = simulate(n_leads=args.rank_leads + 500, seed=11)
    rank_leads = big.leads.head(args.rank_leads)
    rank_items = to_records(rank_leads, big.events)
    rank_body = json.dumps({"leads": rank_items, "capacity": {"hours": 2000}}).encode()
    n_events = sum(len(i["events"]) for i in rank_items)
    rank_times = []
    with bentoml_server(service, 1) as port:
        for _ in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            t0 = time.perf_counter()
            conn.request("POST", "/rank", rank_body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - t0
            assert response.status == 200, payload[:500]
            decoded = json.loads(payload)
            rank_times.append(elapsed)
            conn.close()
    assert len(decoded["leads"]) == args.rank_leads

    load = os.getloadavg()
    lines: list[str] = []

    def emit(text: str = "") -> None:
        lines.append(text)

    emit("### Single-lead scoring\n")
    emit(
        f"{len(items)} different single-lead requests ({events_per_lead:.0f} events per lead on average), cycled; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end.\n"
    )
    emit(
        "| setup | concurrency | requests | requests/s | p50 ms | p90 ms | p99 ms | server CPU ms/request "
        "| load generator CPU ms/request | errors |"
    )
    emit("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        emit(row(result))
    by_label = {(r.label, r.concurrency): r for r in results}
    ours1 = by_label[("BentoML /score, 1 worker", 1)]
    floor = by_label[("in-process: ScoringEngine.score", 1)]
    pyfloor = by_label[("in-process: pyfunc.predict", 1)]
    emit("\n### Ratios (same session)\n")
    emit(f"- HTTP overhead: /score p50 over HTTP / in-process engine p50 = {ours1.pct(50) / floor.pct(50):.2f}x")
    bento_floor = by_label[("BentoML floor: constant answer, 1 worker", 1)]
    emit(
        f"- BentoML's own floor (same body, validation and middleware, constant answer): p50 "
        f"{bento_floor.pct(50):.2f} ms of /score's {ours1.pct(50):.2f} ms"
    )
    assert pyfloor.cpu_ms is not None and floor.cpu_ms is not None
    emit(
        f"- pyfunc.predict vs the in-process engine (p50, taking turns): {pyfloor.pct(50) / floor.pct(50):.2f}x the "
        f"wall time, {np.median(pyfloor.cpu_ms) / np.median(floor.cpu_ms):.2f}x the CPU time"
    )
    for c in (1, 8):
        best_ours = max(
            (
                r
                for r in results
                if r.label.startswith("BentoML /score,") and "batching" not in r.label and r.concurrency == c
            ),
            key=lambda r: r.throughput,
        )
        best_mlflow = max(
            (r for r in results if r.label.startswith("mlflow") and r.concurrency == c), key=lambda r: r.throughput
        )
        best_plain = max(
            (r for r in results if r.label.startswith("BentoML /score without reasons") and r.concurrency == c),
            key=lambda r: r.throughput,
        )
        emit(
            f"- concurrency {c}: best BentoML ({best_ours.label}) {best_ours.throughput:,.0f} req/s, p99 "
            f"{best_ours.pct(99):.1f} ms vs best MLflow ({best_mlflow.label}) {best_mlflow.throughput:,.0f} req/s, "
            f"p99 {best_mlflow.pct(99):.1f} ms: {best_ours.throughput / best_mlflow.throughput:.2f}x the throughput; "
            f'the same answer as the peer (`"reasons": false`, {best_plain.label}): '
            f"{best_plain.throughput:,.0f} req/s, p99 {best_plain.pct(99):.1f} ms: "
            f"{best_plain.throughput / best_mlflow.throughput:.2f}x"
        )
    emit(cpu_split(results))
    emit(f"\n### /rank with {args.rank_leads:,} leads\n")
    emit(
        f"{args.rank_leads:,} leads, {n_events:,} events, {len(rank_body) / 1e6:.1f} MB of JSON, hours capacity "
        f"2,000; 1 worker. End to end (send, server work, receive): "
        + ", ".join(f"{t:.2f} s" for t in rank_times)
        + f"; best {min(rank_times):.2f} s."
    )
    if args.profile:
        one = leads[0]
        emit(profile("ScoringEngine.score, one lead", lambda: engine.score(one, now), 500))
        many = [Lead.model_validate(item) for item in rank_items]
        from serving.schemas import Capacity

        capacity = Capacity.model_validate({"hours": 2000})
        emit(
            profile(
                f"ScoringEngine.rank, {len(many):,} leads", lambda: engine.rank(many, capacity, "closes", None, now), 1
            )
        )
        from serving.schemas import RankRequest

        emit(profile("pydantic validation of the /rank body", lambda: RankRequest.model_validate_json(rank_body), 1))
    report = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"report written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
