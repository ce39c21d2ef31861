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

from typing import Any

import pytest

from tests.serving.live import LiveServer, live_server, run_schemathesis
from tests.serving.session import Trained

pytestmark = pytest.mark.integration

TOKEN = "fuzz-token-4f1d8a0c6b2e4d7a9c3b"
# The whole test, server start included, stays within about a minute and a half on two cores.
MAX_TIME_S = 40
MAX_EXAMPLES = 25


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
