"""`leadrank report`: one self-contained HTML file, parsed back: sections, headline numbers, no external refs."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from leadrank.cli import app
from tests.marketing.conftest import runner
from tests.serving.session import Trained

pytestmark = pytest.mark.integration

TEAM = Path(__file__).resolve().parents[2] / "examples" / "team.toml"
SECTIONS = ("headline", "capacity-curve", "channels", "reps", "model-card", "top-of-list")


class Page(HTMLParser):
    """Section ids, every src/href/url value, KPI boxes and table rows of the report."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.refs: list[str] = []
        self.tags: list[str] = []
        self.kpis: dict[str, str] = {}
        self._kpi: str | None = None
        self._in_b = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.ids.append(str(a["id"]))
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset") and value is not None:
                self.refs.append(value)
        if "data-kpi" in a:
            self._kpi = a["data-kpi"]
        self._in_b = tag == "b"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_b and self._kpi is not None:
            self.kpis[self._kpi] = data
            self._kpi = None
        self._in_b = False


def test_report_is_self_contained_has_every_section_and_the_handoffs_numbers(
    store_env: Trained, data_dir: Path, tmp_path: Path
) -> None:
    options = ["--data", str(data_dir), "--team", str(TEAM)]
    res = runner.invoke(app, ["rank", *options, "--out", str(tmp_path / "r.csv"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["summary"]
    out = tmp_path / "report.html"
    res = runner.invoke(app, ["report", *options, "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert page.ids == list(SECTIONS)
    # Nothing from the network: no src/href to http(s) or //, no @import, no url() outside the document.
    assert [r for r in page.refs if re.match(r"(?i)\s*(https?:|//)", r)] == []
    assert "<script" not in html and "@import" not in html and not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    assert page.tags.count("svg") == 2  # the capacity curves (dense and full range), the calibration plot
    text = " ".join(" ".join(page.text).split())
    assert summary["statement"] in text
    assert page.kpis["leads handed off"] == f"{summary['leads_handed_off']:,}"
    assert page.kpis["expected closes"] == f"{summary['expected_closes']:,.1f}"
    assert page.kpis["close rate"] == f"{100 * summary['expected_close_rate']:.1f}%"
    assert page.kpis["closes per selling hour"] == f"{summary['expected_closes_per_hour']:.3f}"
    assert page.kpis["capacity"] == f"{summary['hours_available']:,.0f} selling hours"
    assert "by lead count alone" in text and "by score alone" in text
    assert re.search(r"one more rep-week \(40 h\) would bring about \d+\.\d\d more expected closes", text)
    for rep in summary["reps"]:
        assert rep["name"] in text
    assert "test AUC" in text and "What the percentage means" in text
    assert "telemarketing" in text and " pts)" in text  # channels and the top of the list with reasons


def test_report_refuses_a_non_html_file_name(store_env: Trained, data_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["report", "--data", str(data_dir), "--capacity-hours", "9", "--out", str(tmp_path / "r.pdf")]
    )
    assert res.exit_code == 2 and "the report is an HTML file" in res.output
