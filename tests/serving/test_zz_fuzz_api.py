"""API fuzzing in CI: schemathesis against a live server, from the server's own /docs.json.

All operations; the examples, coverage and fuzzing phases; with the token and without it (the server requires
one). Bounded in time so the suite stays fast: `bench/bench_api_fuzz.py` runs the same for 10 minutes
(BENCHMARKS.md). Every check schemathesis has for responses must pass: no 5xx, responses that match the
documented schema, status codes, content types and headers, schema-invalid requests rejected, missing auth
refused, unsupported methods answered 405. One check is off, `positive_data_acceptance` (schema-valid requests
must get a 2xx): the API has rules a JSON Schema cannot say (lead ids unique within a request, timestamps
that exist on the calendar, attribute types the model knows, the server's batch limits), and answers those with a
documented 400 or 413.

Named `zz` to run last: it starts a server process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.serving.conftest import Trained
from tests.serving.live import LiveServer, live_server

pytestmark = pytest.mark.integration

TOKEN = "fuzz-token-4f1d8a0c6b2e4d7a9c3b"
# The whole test, server start included, stays within about a minute and a half on two cores.
MAX_TIME_S = 40
MAX_EXAMPLES = 25


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


@pytest.fixture(scope="module")
def server(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Any:
    output = tmp_path_factory.mktemp("fuzz") / "server.log"
    with live_server(output, {"LEADRANK_API_TOKENS": f"fuzz:{TOKEN}"}) as live:
        live.wait_ready()
        yield live


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: LiveServer) -> None:
    with_token = run_schemathesis(server.url, token=TOKEN, max_time_s=MAX_TIME_S, max_examples=MAX_EXAMPLES)
    # Without the token every protected operation is refused before its body is read: fewer examples suffice.
    without = run_schemathesis(server.url, token=None, max_time_s=MAX_TIME_S // 2, max_examples=MAX_EXAMPLES // 2)
    for report in (with_token, without):
        summary = f"{report.requests} requests, statuses {report.statuses}, phases {report.phases}"
        assert not report.failures, f"{summary}\n" + "\n".join(sorted(set(report.failures)))
        assert not report.errors, f"{summary}\n" + "\n".join(report.errors)
        assert not [s for s in report.statuses if s >= 500], summary
        assert {"examples", "coverage", "fuzzing"} <= report.phases, summary
        assert {"POST /score", "POST /rank", "GET /model", "GET /readyz"} <= report.operations, summary
    # With the token the requests were scored or refused for their content; without it, refused for the token.
    assert with_token.statuses.get(200, 0) > 0 and with_token.statuses.get(400, 0) > 0, with_token.statuses
    assert without.statuses.get(401, 0) > 0, without.statuses
    # The server's own output, all along: no traceback, no token.
    output = server.output()
    assert "Traceback" not in output and TOKEN not in output
