"""Model faults on a real server: a missing, corrupt or schema-incompatible model keeps the service from
becoming ready, with one clear log line, and no request is scored.

A corrupt or incompatible model leaves the worker up but never ready: /readyz, /score, /rank and /model answer
503 `not_ready` at once (rather than BentoML restarting the worker in a loop, three tracebacks a time, with
requests hanging meanwhile). A model that is not in the store at all stops `bentoml serve` before any worker
starts, with BentoML's one-line error naming the tag. Named `zz` to run last: it starts server processes.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from serving.schemas import LEAD_EXAMPLE
from tests.serving.live import LiveServer, live_server
from tests.serving.session import Trained

pytestmark = pytest.mark.integration

FAULT_LINE = "leadrank cannot serve, and will not become ready"


def _not_json(manifest: Path) -> None:
    manifest.write_text('{"format": "leadrank-model", ')


def _other_feature_schema(manifest: Path) -> None:
    data = json.loads(manifest.read_text())
    data["feature_schema"]["version"] = 999  # written by a leadrank whose features differ
    manifest.write_text(json.dumps(data))


def _broken_copy(trained: Trained, version: str, damage: Callable[[Path], None]) -> str:
    """A copy of the session's model in the BentoML store under `version`, its model manifest damaged."""
    import bentoml

    stored = bentoml.models.get(trained.bento_tag)
    source = Path(stored.path)
    target = source.parent / version
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    info = target / "model.yaml"
    info.write_text(info.read_text().replace(f"version: {stored.tag.version}", f"version: {version}", 1))
    damage(target / "mlflow_model" / "artifacts" / "lead_model" / "model.json")
    return f"{stored.tag.name}:{version}"


def _wait_for_line(server: LiveServer, text: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.output():
        assert server.process.poll() is None, server.output()
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.5)


def test_a_broken_model_never_becomes_ready_and_scores_nothing(trained: Trained, tmp_path: Path) -> None:
    faults = {
        "corrupt": (_broken_copy(trained, "broken-json", _not_json), "not readable JSON"),
        "incompatible": (
            _broken_copy(trained, "broken-schema", _other_feature_schema),
            "feature schema key 'version': expected",
        ),
    }
    lead = copy.deepcopy(LEAD_EXAMPLE)
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(live_server(tmp_path / f"{name}.log", {"LEADRANK_BENTO_MODEL": tag}))
            for name, (tag, _) in faults.items()
        }
        for name, server in servers.items():
            tag, reason = faults[name]
            _wait_for_line(server, FAULT_LINE)
            for method, path, body in (
                ("GET", "/readyz", None),
                ("POST", "/score", {"leads": [lead]}),
                ("POST", "/rank", {"leads": [lead], "capacity": {"hours": 10}}),
                ("GET", "/model", None),
            ):
                r = httpx.request(method, f"{server.url}{path}", json=body, timeout=10)
                assert r.status_code == 503, (name, path, r.text)
                if path != "/readyz":
                    assert r.json()["code"] == "not_ready", (name, path, r.text)
            assert httpx.get(f"{server.url}/livez", timeout=10).status_code == 200  # up, so not restarted
            time.sleep(2)  # a worker restarted in a loop would have logged again by now
            lines = [line for line in server.output().splitlines() if FAULT_LINE in line]
            assert len(lines) == 1, server.output()
            assert "[ERROR]" in lines[0] and tag in lines[0] and reason in lines[0], lines[0]
            assert "Traceback" not in server.output()


def test_a_missing_model_stops_the_server_with_one_line(tmp_path: Path, trained: Trained) -> None:
    tag = "lead-scorer:v999-notstored"
    with live_server(tmp_path / "missing.log", {"LEADRANK_BENTO_MODEL": tag}) as server:
        returncode = server.process.wait(timeout=120)
        output = server.output()
    assert returncode != 0
    errors = [line for line in output.splitlines() if tag in line]
    assert len(errors) == 1 and "could not be found" in errors[0], output
    assert "Traceback" not in output
