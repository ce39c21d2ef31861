"""The handoff report: one self-contained HTML file a marketer can forward or print.

Everything is inline: the styles, and the charts as SVG drawn by matplotlib (text as paths, so no font is
needed). Nothing refers to the network, so it opens offline. The numbers are the handoff summary's own; the two
comparisons hand off the same selling hours by lead count alone (in arrival order, as a quota of leads would)
and by score alone (the likeliest to close first, ignoring the hours they cost).
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from features import contract as c
from handoff import HandoffResult, capacity_curve

TOP_ROWS: Final = 25
DENSE_POINTS: Final = 41
STAGE_COLOURS: Final = {"sales_ready": "#c6efce", "marketing_qualified": "#ffeb9c", "nurture": "#ededed"}

CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:1100px;
margin:1.5rem auto;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;
margin-top:2rem}
.statement{font-size:1.05rem;background:#f6f8fa;border-left:4px solid #0969da;padding:.6rem .9rem}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}td.n,th.n{text-align:right}th{background:#f6f8fa}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.5rem}
.kpi{border:1px solid #d0d7de;border-radius:6px;padding:.4rem .6rem}.kpi b{display:block;font-size:1.3rem}
.chart svg{max-width:100%;height:auto}.muted{color:#57606a;font-size:.9rem}
.sales_ready{background:#c6efce}.marketing_qualified{background:#ffeb9c}.nurture{background:#ededed}
@media print{body{max-width:none;margin:0;font-size:10pt}h2{break-after:avoid}table,figure{break-inside:avoid}
.chart svg{max-height:9cm}}
"""


@dataclass
class ReportData:
    """What the report shows. `listed` is marketing's ranked list (`marketing.ranked_list.build_ranked_list`);
    `history` the closed (and open) leads with their outcomes, for the channels; `calibration` closed leads with
    the model's `p_close`, `won` and `source`; `model_card` the registered run's facts (version, trained_at,
    data_fingerprint, test_metrics, calibration)."""

    result: HandoffResult
    listed: pd.DataFrame
    model_card: dict[str, Any] = field(default_factory=dict)
    history: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    title: str = "Lead handoff report"


@dataclass(frozen=True)
class Comparison:
    """One way of spending the same selling hours."""

    name: str
    leads: int
    hours: float
    expected_closes: float

    @property
    def close_rate(self) -> float:
        return self.expected_closes / self.leads if self.leads else math.nan

    @property
    def closes_per_hour(self) -> float:
        return self.expected_closes / self.hours if self.hours > 0 else math.nan


def _same_hours(order: np.ndarray, p: np.ndarray, hours: np.ndarray, budget: float, name: str) -> Comparison:
    """The leads taken in `order` while their hours fit in `budget` (a lead that does not fit is skipped)."""
    taken: list[int] = []
    used = 0.0
    for k in order.tolist():  # a walk down one sorted list: at most a few thousand steps per report
        if used + hours[k] <= budget + 1e-9:
            taken.append(k)
            used += hours[k]
    idx = np.asarray(taken, dtype=np.intp)
    return Comparison(name, len(idx), float(hours[idx].sum()), float(p[idx].sum()))


def comparisons(result: HandoffResult) -> list[Comparison]:
    """leadrank's handoff and the same hours spent by lead count alone and by score alone."""
    s = result.summary
    leads = result.leads
    p = leads["p_close"].to_numpy(dtype=float)
    hours = leads["expected_hours"].to_numpy(dtype=float)
    budget = s.hours_available if s.hours_available is not None else s.hours_used
    ours = Comparison("leadrank (closes per selling hour)", s.leads_handed_off, s.hours_used, s.expected_closes)
    if c.CREATED_AT in leads.columns:
        arrival = np.argsort(pd.to_datetime(leads[c.CREATED_AT]).to_numpy(), kind="stable")
    else:
        arrival = np.arange(len(leads))
    by_count = _same_hours(arrival, p, hours, budget, "by lead count alone (in arrival order)")
    by_score = _same_hours(np.argsort(-p, kind="stable"), p, hours, budget, "by score alone (likeliest first)")
    return [ours, by_count, by_score]


# --- formatting ---------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, fmt: str = ",.1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


def _pct(value: Any) -> str:
    return _num(value if value is None else 100 * float(value), ".1f") + ("%" if value is not None else "")


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool], cls: str = "") -> str:
    """An HTML table, every cell escaped; `numeric` columns right-aligned (the monitoring page uses it too)."""
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if n else f"<th>{_e(h)}</th>" for h, n in zip(header, numeric, strict=True)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{_e(v)}</td>' if n else f"<td>{_e(v)}</td>" for v, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def svg_of(fig: Any) -> str:
    """A matplotlib figure as inline SVG markup (no XML prolog, text as paths, no external reference)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "leadrank"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


# --- sections -----------------------------------------------------------------------------------------------


def _headline(data: ReportData) -> str:
    s = data.result.summary
    if s.hours_available is not None:
        capacity = f"{s.hours_available:,.0f} selling hours"
    else:
        capacity = f"{s.lead_capacity:,} leads" if s.lead_capacity is not None else "–"
    kpis = [
        ("capacity", capacity),
        ("leads handed off", f"{s.leads_handed_off:,}"),
        ("hours used", _num(s.hours_used)),
        ("expected closes", _num(s.expected_closes)),
        ("close rate", _pct(s.expected_close_rate)),
        ("closes per selling hour", _num(s.expected_closes_per_hour, ".3f")),
        ("cut-off: closes per hour", _num(s.cutoff_closes_per_hour, ".3f")),
        ("cut-off: chance to close", _pct(s.cutoff_p_close)),
    ]
    boxes = "".join(f'<div class="kpi" data-kpi="{_e(k)}">{_e(k)}<b>{_e(v)}</b></div>' for k, v in kpis)
    rows = [
        (
            x.name,
            f"{x.leads:,}",
            _num(x.hours),
            _num(x.expected_closes),
            _pct(x.close_rate),
            _num(x.closes_per_hour, ".3f"),
        )
        for x in comparisons(data.result)
    ]
    table = html_table(
        ("the same hours handed off", "leads", "hours", "expected closes", "close rate", "closes per selling hour"),
        rows,
        (False, True, True, True, True, True),
        "comparison",
    )
    return (
        f'<section id="headline"><h2>Headline</h2><p class="statement">{_e(s.statement)}</p>'
        f'<div class="kpis">{boxes}</div>{table}'
        '<p class="muted">The comparison spends the same selling hours two other ways: taking leads in the order '
        "they arrived (what a quota of leads does) and taking the likeliest to close first (a score threshold, "
        "blind to the hours a lead costs). Expected closes are the sum of the model's chances.</p></section>"
    )


def _curve_chart(data: ReportData) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = data.result.summary
    scored = data.result.leads
    current = s.hours_available if s.hours_available is not None else s.hours_used
    top = max(4 * current, 1.0)
    dense = capacity_curve(scored, kind="hours", grid=np.linspace(0, top, DENSE_POINTS).tolist())
    full = capacity_curve(scored, kind="hours")
    at_current = capacity_curve(scored, kind="hours", grid=[current])
    more = float(at_current["marginal_closes_per_rep_week"].iloc[0])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    ax.plot(dense["capacity"], dense["expected_closes"], color="#0969da", label="expected closes")
    ax.axvline(current, color="#57606a", linestyle=":", label=f"current capacity ({current:,.0f} h)")
    ax.set_xlabel("selling hours (0 to 4x current capacity)")
    ax.set_ylabel("expected closes")
    twin = ax.twinx()
    twin.plot(dense["capacity"], dense["marginal_closes_per_rep_week"], color="#d1742f", label="+1 rep-week")
    twin.set_ylabel("extra closes of one more rep-week")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    ax2.plot(full["capacity"], full["expected_closes"], color="#0969da")
    ax2.axvline(current, color="#57606a", linestyle=":")
    ax2.set_title("full range", fontsize=9)
    ax2.set_xlabel("selling hours")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    note = (
        f"At the current {current:,.0f} hours one more rep-week ({float(at_current['rep_week'].iloc[0]):,.0f} h) "
        f"would bring about {more:.2f} more expected closes."
    )
    return svg_of(fig), note


def _curve(data: ReportData) -> str:
    chart, note = _curve_chart(data)
    return (
        '<section id="capacity-curve"><h2>What more or less capacity would bring</h2>'
        f'<figure class="chart">{chart}</figure><p data-marginal>{_e(note)}</p>'
        '<p class="muted">Left: expected closes of the same policy at 0 to 4 times the current capacity, where '
        "decisions are made; the orange line is what one more rep-week would add there. Right: the whole range, up to "
        "the capacity that takes every lead worth anything.</p></section>"
    )


def channel_table(history: pd.DataFrame, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source, from the history with outcomes: leads, close rate, mean hours and closes per selling hour."""
    from features.summary import summarize_history

    table = summarize_history(history, events)
    table["closes_per_hour"] = table["won"] / (table["mean_sales_hours"] * table["closed"]).where(table["closed"] > 0)
    return table


def _channels(data: ReportData) -> str:
    if data.history is None or c.OUTCOME not in data.history.columns:
        return (
            '<section id="channels"><h2>Channels compared fairly</h2><p>No closed history was given, so channels '
            "cannot be compared on outcomes.</p></section>"
        )
    table = channel_table(data.history, data.events)
    rows = [
        (
            source,
            f"{int(r.leads):,}",
            f"{int(r.closed):,}",
            _pct(r.close_rate),
            _num(r.mean_sales_hours, ".2f"),
            _num(r.closes_per_hour, ".3f"),
        )
        for source, r in table.iterrows()
    ]
    return (
        '<section id="channels"><h2>Channels compared fairly</h2>'
        + html_table(
            ("source", "leads", "closed", "close rate", "mean selling hours", "closes per selling hour"),
            rows,
            (False, True, True, True, True, True),
            "channels",
        )
        + '<p class="muted">From the closed history. Lead counts compare apples with pears: a channel of many cheap '
        "leads and one of few costly ones are compared by what an hour of selling brings (won ÷ selling hours of the "
        "closed leads).</p></section>"
    )


def _reps(data: ReportData) -> str:
    reps = data.result.summary.reps
    if not reps:
        return (
            '<section id="reps"><h2>Per rep</h2><p>The capacity was given as a total, not as a team: no leads are '
            "assigned to named reps.</p></section>"
        )
    rows = [
        (r.name, f"{r.leads:,}", _num(r.hours_used), _num(r.hours_available), _num(r.expected_closes, ".2f"))
        for r in reps
    ]
    table = html_table(("rep", "leads", "hours used", "hours available", "expected closes"), rows, (False, *[True] * 4))
    return f'<section id="reps"><h2>Per rep</h2>{table}</section>'


def _calibration_chart(calibration: pd.DataFrame) -> str:
    curves: list[tuple[str, list[float], list[float], str | None]] = []
    for source, group in calibration.groupby("source", sort=True):
        if len(group) < 20:
            continue
        bins = pd.qcut(group["p_close"], q=min(5, max(2, len(group) // 60)), duplicates="drop")
        means = group.groupby(bins, observed=True)[["p_close", "won"]].mean()
        curves.append((str(source), means["p_close"].tolist(), means["won"].tolist(), None))
    top = min(1.0, max(0.1, float(calibration["p_close"].quantile(0.99)) * 1.2))
    return calibration_svg(curves, top, (5.5, 4))


def calibration_svg(
    curves: Sequence[tuple[str, list[float], list[float], str | None]], top: float, size: tuple[float, float]
) -> str:
    """A calibration chart as inline SVG: predicted chance against the share that closed, one curve per
    (label, predicted, closed, colour or None), the diagonal for perfect calibration, both axes from 0 to `top`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    ax.plot([0, 1], [0, 1], color="#8c959f", linestyle="--", label="perfect")
    for label, predicted, closed, color in curves:
        ax.plot(predicted, closed, marker="o", label=label, color=color)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted chance to close")
    ax.set_ylabel("share that closed")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return svg_of(fig)


def _model_card(data: ReportData) -> str:
    card = data.model_card
    metrics = card.get("test_metrics") or {}
    fingerprint = card.get("data_fingerprint") or {}
    auc = metrics.get("test_roc_auc")
    facts = [
        ("model", f"{card.get('model_name', 'lead-scorer')} version {card.get('mlflow_version', '–')}"),
        ("trained at", card.get("trained_at") or "–"),
        ("fitted on", ", ".join(f"{k}: {v}" for k, v in fingerprint.items() if not isinstance(v, dict | list)) or "–"),
        ("test AUC (held-out newest period)", _num(auc, ".3f") if isinstance(auc, int | float) else "–"),
        ("calibration", card.get("calibration") or "–"),
    ]
    facts += [
        (k, _num(v, ".4g")) for k, v in sorted(metrics.items()) if k != "test_roc_auc" and isinstance(v, int | float)
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    chart = ""
    if data.calibration is not None and len(data.calibration):
        chart = (
            f'<figure class="chart" id="calibration">{_calibration_chart(data.calibration)}</figure>'
            '<p class="muted">Calibration per source on the newest closed leads: each point is a group of leads with '
            "similar predicted chances; on the dashed line, what was predicted is what happened.</p>"
        )
    return (
        f'<section id="model-card"><h2>Model card</h2><table class="card">{rows}</table>{chart}'
        "<p><b>What the percentage means:</b> a chance to close of 30% says that of many leads like this one, "
        "about three in ten close; it is calibrated on the company's own history. <b>What it does not mean:</b> it "
        "is not a grade of the lead or of the person, not a promise for any single lead, and not the chance this "
        "week; it knows only what the CRM recorded before the lead's decision time, and it is only as good as the "
        "history it learned from (a new channel or market starts with little evidence).</p></section>"
    )


def _top_list(data: ReportData) -> str:
    listed = data.listed.head(TOP_ROWS)
    rows = []
    for r in listed.itertuples(index=False):
        rows.append(
            f'<tr class="{_e(r.stage)}"><td class="n">{_e(r.rank)}</td><td>{_e(r.lead_id)}</td><td>{_e(r.stage)}</td>'
            f"<td>{_e(r.assigned_to if isinstance(r.assigned_to, str) else '')}</td>"
            f'<td class="n">{_pct(r.chance_to_close)}</td><td class="n">{_num(r.expected_hours, ".2f")}</td>'
            f'<td class="n">{_num(r.closes_per_hour, ".3f")}</td><td>{_e(r.source)}</td>'
            f"<td>{_e(r.reasons_up)}</td><td>{_e(r.reasons_down)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("rank", "lead", "stage", "rep", "chance", "hours", "closes/hour", "source", "up", "down")
    )
    return (
        f'<section id="top-of-list"><h2>Top of the ranked list</h2><table class="ranked"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="muted">The first {len(listed)} of {len(data.listed):,} leads; the full list with every reason '
        "is the ranked list file. Rank follows closes per selling hour, not the chance alone.</p></section>"
    )


def render_report(data: ReportData) -> str:
    """The whole report as one HTML document."""
    s = data.result.summary
    sections = [_headline(data), _curve(data), _channels(data), _reps(data), _model_card(data), _top_list(data)]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(data.title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{_e(data.title)}</h1><p class="muted">{_e(s.period)} · {s.leads_scored:,} open leads scored · '
        f"objective: expected {_e(s.objective)}</p>" + "".join(sections) + "</body></html>\n"
    )
