"""The monitoring page: one self-contained HTML file (styles inline, the chart as inline SVG, nothing fetched from
the network), built with the marketing report's page helpers so both pages look and behave alike."""

from __future__ import annotations

import html
from typing import Any, Final

from marketing.report import CSS, calibration_svg, html_table
from monitoring.checks import ACT, NOT_JUDGED, OK, WATCH, MonitorReport

_COLOURS: Final = {OK: "#c6efce", WATCH: "#ffeb9c", ACT: "#ffc7ce", NOT_JUDGED: "#ededed"}
_EXTRA_CSS: Final = (
    "".join(f".v-{k.replace('/', '')}{{background:{v}}}" for k, v in _COLOURS.items())
    + ".verdict{font-size:1.15rem;padding:.6rem .9rem;border-radius:6px}"
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cls(verdict: str) -> str:
    return "v-" + verdict.replace("/", "")


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _checks(report: MonitorReport) -> str:
    rows = "".join(
        f'<tr class="{_cls(ch.verdict)}"><td>{_e(ch.title)}</td><td><b>{_e(ch.verdict)}</b></td>'
        f"<td>{_e(ch.reason)}</td><td>{_e(ch.action)}</td></tr>"
        for ch in report.checks
    )
    return (
        '<section id="checks"><h2>Checks</h2><table><thead><tr><th>check</th><th>verdict</th><th>why</th>'
        f"<th>what to do</th></tr></thead><tbody>{rows}</tbody></table>"
        '<p class="muted">ok: nothing to do; watch: look again next window; act: the model or the data needs a '
        "change now; n/a: not enough to judge (the reason says what is missing). Thresholds: "
        "docs/data-science.md, section Monitoring.</p></section>"
    )


def _calibration_chart(report: MonitorReport) -> str:
    curve = report.calibration
    predicted = [p["mean_p_close"] for p in curve]
    closed = [p["close_rate"] for p in curve]
    top = min(1.0, max(0.1, max(max(p["mean_p_close"], p["close_rate"]) for p in curve) * 1.15))
    return calibration_svg([("this window", predicted, closed, "#0969da")], top, (5.0, 3.8))


def _calibration(report: MonitorReport) -> str:
    if not report.calibration:
        return ""
    table = html_table(
        ("predicted", "leads", "mean p_close", "closed"),
        [
            (p["bin"], f"{p['leads']:,}", f"{p['mean_p_close']:.1%}", f"{p['close_rate']:.1%}")
            for p in report.calibration
        ],
        (False, True, True, True),
    )
    return (
        '<section id="calibration"><h2>Realised against predicted</h2>'
        f'<figure class="chart">{_calibration_chart(report)}</figure>{table}'
        '<p class="muted">Closed leads of the window grouped by predicted chance: on the dashed line, what was '
        "predicted is what happened.</p></section>"
    )


def _per_source(report: MonitorReport) -> str:
    if not report.per_source:
        return ""
    rows = [
        (
            r["source"],
            f"{r['leads']:,}",
            f"{r['share']:.1%}",
            _fmt(r["training_share"], ".1%"),
            f"{r['closed']:,}",
            _fmt(r["close_rate"], ".1%"),
            _fmt(r["mean_p_close"], ".1%"),
            _fmt(r["ece"], ".3f"),
            _fmt(r["auc"], ".3f"),
        )
        for r in report.per_source
    ]
    table = html_table(
        ("source", "leads", "share", "training share", "closed", "close rate", "mean p_close", "ECE", "AUC"),
        rows,
        (False, *[True] * 8),
    )
    return f'<section id="sources"><h2>Per source</h2>{table}</section>'


def _features(report: MonitorReport) -> str:
    if not report.feature_psi:
        return ""
    top = list(report.feature_psi.items())[:15]
    table = html_table(("feature", "PSI"), [(k, f"{v:.3f}") for k, v in top], (False, True))
    return (
        f'<section id="features"><h2>Feature drift</h2>{table}<p class="muted">The {len(top)} features that moved '
        f"most of {len(report.feature_psi)}: population stability index against the training reference stored with "
        "the model (below 0.1 stable, 0.1 to 0.25 moved, above 0.25 changed).</p></section>"
    )


def render_page(report: MonitorReport) -> str:
    """The whole monitoring page as one HTML document."""
    title = f"Monitoring: model version {report.model_version}"
    span = f"{report.since or 'the start'} to {report.until or 'now'}"
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
    body = (
        f'<p class="verdict {_cls(report.verdict)}"><b>{_e(report.verdict)}</b>: {_e(report.headline)}</p>'
        f'<p class="muted">{_e(report.origin)} · window {_e(span)} · {report.n_leads:,} leads, {report.n_closed:,} '
        f"closed, {report.n_won:,} won · made {_e(report.created_at)}</p>"
    )
    if report.checks:
        body += _checks(report) + _calibration(report) + _per_source(report) + _features(report)
    if notes:
        body += f'<section id="notes"><h2>Notes</h2><ul>{notes}</ul></section>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{body}</body></html>\n"
    )
