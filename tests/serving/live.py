"""A real server for tests: `python -m bentoml serve serving.service:LeadScorer` on a free localhost port, its
output kept in a file, stopped (SIGTERM, then SIGKILL) afterwards.

A subprocess of its own rather than `bentoml.serve(...)`: the tests read everything the server writes (a model
fault must be one log line, a token must never be logged) and set its environment per server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
_ADDRESS = ("--host", "127.0.0.1", "--port")


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
def live_server(output_path: Path, env: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """A server on 127.0.0.1 with the current environment plus `env`; not waited for (see `wait_ready`)."""
    port = free_port()
    with output_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "serving.service:LeadScorer", *_ADDRESS, str(port)],
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
                process.kill()
                process.wait()
