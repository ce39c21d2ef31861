"""A real server for tests and benchmarks: `python -m bentoml serve serving.service:LeadScorer` on a free
localhost port, its output kept in a file, stopped (SIGTERM, then SIGKILL) afterwards; and schemathesis run
against it (`run_schemathesis`, used by tests/serving/test_zz_fuzz_api.py and bench/bench_api_fuzz.py).

A subprocess of its own rather than `bentoml.serve(...)`: the tests read everything the server writes (a model
fault must be one log line, a token must never be logged) and set its environment per server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    output_path: Path

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the server did not become ready in {timeout:.0f} s:\n{self.output()}")


@contextmanager
def _serving(args: list[str], output_path: Path, env: Mapping[str, str] | None, mode: str) -> Iterator[LiveServer]:
    """`python -m ARGS --port PORT` on a free 127.0.0.1 port with the current environment plus `env`, its output
    in `output_path`; stopped afterwards (SIGTERM, which BentoML's arbiter passes to its workers, then SIGKILL of
    the whole tree). Not waited for (see `wait_ready`)."""
    port = free_port()
    with output_path.open(mode) as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *args, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "BENTOML_DO_NOT_TRACK": "True", **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", process, output_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_server(process)


def live_server(output_path: Path, env: Mapping[str, str] | None = None) -> AbstractContextManager[LiveServer]:
    """`bentoml serve serving.service:LeadScorer` on 127.0.0.1 (one worker)."""
    return _serving(["bentoml", "serve", "serving.service:LeadScorer", "--host", "127.0.0.1"], output_path, env, "wb")


def leadrank_serve(
    output_path: Path, workers: int, env: Mapping[str, str] | None = None
) -> AbstractContextManager[LiveServer]:
    """`leadrank serve --workers N` (its output appended to `output_path`)."""
    return _serving(["leadrank", "serve", "--workers", str(workers)], output_path, env, "ab")


def kill_server(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole server at once: `leadrank serve`, BentoML's arbiter and every worker. The workers run
    in sessions of their own (a process-group kill misses them), so every descendant is found first."""
    import psutil

    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in tree:
        with suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"server processes survived SIGKILL: {[proc.pid for proc in alive]}"


@dataclass
class FuzzReport:
    """What one schemathesis run did: requests sent per status, and every failed check."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    phases: set[str] = field(default_factory=set)
    seconds: float = 0.0


def run_schemathesis(
    base_url: str, *, token: str | None, max_time_s: int, max_examples: int, seed: int = 17
) -> FuzzReport:
    """Run schemathesis's engine (what `schemathesis run` runs) against `base_url`'s /docs.json."""
    import schemathesis
    from schemathesis.engine import Status, from_schema
    from schemathesis.engine import events as ev

    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "max-time": max_time_s,
            "suppress-health-check": ["all"],
            "headers": {"Authorization": f"Bearer {token}"} if token else {},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "generation": {"max-examples": max_examples},
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/docs.json", config=config)
    schema.config.update(base_url=base_url)
    report = FuzzReport()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, ev.ScenarioFinished):
            report.phases.add(str(event.phase.value))
            if event.recorder.label:
                report.operations.add(event.recorder.label)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    report.requests += 1
                    status = int(interaction.response.status_code)
                    report.statuses[status] = report.statuses.get(status, 0) + 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE:
                        info = check.failure_info
                        detail = f"{info.failure.title}: {info.failure.message}\n{info.code_sample}" if info else ""
                        report.failures.append(f"{event.recorder.label}: {check.name}: {detail}")
        elif isinstance(event, ev.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.error!r}"[:500])
        elif isinstance(event, ev.FatalError):
            report.errors.append(f"fatal: {event.exception!r}"[:500])
    report.seconds = time.monotonic() - started
    return report
