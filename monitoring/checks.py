"""Does the champion still hold? Drift and realised-vs-predicted checks of one window of leads.

A window comes either from a data set (`window_from_data`: canonical leads and events, scored again by the
model, every check possible) or from the prediction log joined with imported outcomes (`window_from_log`: the
scores and stages the service gave; the log keeps no features, so only the score's drift and the realised
checks can be judged). `judge` runs every check it can and gives each a verdict (ok / watch / act, or n/a with
the reason it could not be judged), a one-sentence reason and what to do.

The thresholds are constants here, documented in docs/data-science.md ("Monitoring").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch
from model.reference import Distribution, Reference, binned
from monitoring.drift import PSI_ACT, PSI_WATCH, auc_standard_error, psi

OK: Final = "ok"
WATCH: Final = "watch"
ACT: Final = "act"
NOT_JUDGED: Final = "n/a"
_RANK: Final = {NOT_JUDGED: -1, OK: 0, WATCH: 1, ACT: 2}

# Fewer leads than this give PSI values dominated by sampling noise.
MIN_LEADS_FOR_DRIFT: Final = 200
# Realised checks need this many closed leads (and won leads) in the window.
MIN_CLOSED: Final = 200
MIN_WON: Final = 20
MIN_SALES_READY_CLOSED: Final = 30
# Share of leads with a category never seen in training.
NEW_CATEGORY_WATCH: Final = 0.01
NEW_CATEGORY_ACT: Final = 0.05
# Rise of an attribute's missing share over its training share (absolute).
MISSING_WATCH: Final = 0.05
MISSING_ACT: Final = 0.15
# Expected calibration error on the window's closed leads (the promotion gate's default limit is 0.05).
ECE_WATCH: Final = 0.05
ECE_ACT: Final = 0.10
# AUC below the model's own test AUC: by at least this much and by this many standard errors.
# Nine checks a window, every week: a 2-sigma rule would cry wolf every few weeks, so watch needs 3 sigma.
AUC_DROP_WATCH: Final = (0.04, 3.0)
AUC_DROP_ACT: Final = (0.08, 4.0)
# Realised against planned (sales_ready leads): relative gap and z-score both beyond.
PLAN_WATCH: Final = (0.15, 3.0)
PLAN_ACT: Final = (0.25, 4.0)
# Per-source rows need this many closed leads.
MIN_SOURCE_CLOSED: Final = 50


class MonitoringError(ValueError):
    """The window cannot be built (bad options or data); the message says which and why."""


@dataclass(frozen=True)
class Check:
    """One check: verdict, the reason in one sentence and what to do; `value` the statistic judged."""

    name: str
    title: str
    verdict: str
    reason: str
    action: str
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "verdict": self.verdict,
            "reason": self.reason,
            "action": self.action,
            "value": self.value,
            "details": self.details,
        }


@dataclass
class Window:
    """The leads of one monitoring window, as the checks need them (one entry a lead)."""

    origin: str
    since: pd.Timestamp | None
    until: pd.Timestamp | None
    lead_ids: np.ndarray
    p_close: np.ndarray
    won: np.ndarray  # 1.0 won, 0.0 lost, NaN outcome not known
    sales_ready: np.ndarray | None = None  # bool: handed to sales
    expected_hours: np.ndarray | None = None
    realised_hours: np.ndarray | None = None  # NaN when unknown
    source: np.ndarray | None = None
    values: np.ndarray | None = None  # modelled columns x leads, as `model.reference` bins them
    columns: list[str] = field(default_factory=list)
    unseen: dict[str, dict[str, int]] = field(default_factory=dict)
    attribute_features: dict[str, str] = field(default_factory=dict)  # lead column -> feature
    notes: list[str] = field(default_factory=list)

    @property
    def closed(self) -> np.ndarray:
        return ~np.isnan(self.won)


@dataclass
class MonitorReport:
    """What `leadrank monitor` shows and logs."""

    model_version: str
    origin: str
    since: str | None
    until: str | None
    n_leads: int
    n_closed: int
    n_won: int
    verdict: str
    headline: str
    checks: list[Check]
    per_source: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    feature_psi: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "origin": self.origin,
            "since": self.since,
            "until": self.until,
            "created_at": self.created_at,
            "leads": self.n_leads,
            "closed_leads": self.n_closed,
            "won_leads": self.n_won,
            "verdict": self.verdict,
            "headline": self.headline,
            "checks": [check.to_dict() for check in self.checks],
            "per_source": self.per_source,
            "calibration_curve": self.calibration,
            "feature_psi": self.feature_psi,
            "notes": self.notes,
        }

    def metrics(self) -> dict[str, float]:
        """The numeric figures, flat, for MLflow."""
        out = {
            check.name: float(check.value)
            for check in self.checks
            if check.value is not None and math.isfinite(check.value)
        }
        out.update({f"verdict.{check.name}": float(_RANK[check.verdict]) for check in self.checks})
        out.update({f"psi.{name}": value for name, value in self.feature_psi.items()})
        out.update({"leads": float(self.n_leads), "closed_leads": float(self.n_closed), "won_leads": float(self.n_won)})
        return out


# --- windows ------------------------------------------------------------------------------------------------


def parse_time(text: str | None, option: str) -> pd.Timestamp | None:
    """A `--since` / `--until` value (ISO 8601 date or time) as a naive UTC timestamp."""
    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except (TypeError, ValueError):
        raise MonitoringError(f"{option} {text!r} is not an ISO 8601 date or time (e.g. 2026-09-01)") from None
    if ts is pd.NaT:
        raise MonitoringError(f"{option} must be a date, got {text!r}")
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _in_window(times: pd.Series, since: pd.Timestamp | None, until: pd.Timestamp | None) -> np.ndarray:
    """Leads whose time is in [since, until); without bounds every lead, even one without a time."""
    if since is None and until is None:
        return np.ones(len(times), dtype=bool)
    keep = times.notna().to_numpy().copy()
    t = times.to_numpy(dtype="datetime64[us]")
    if since is not None:
        keep &= t >= since.to_datetime64()
    if until is not None:
        keep &= t < until.to_datetime64()
    return keep


def window_from_data(
    model: Any,
    batch: LeadBatch,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    capacity_share: float = 0.10,
    origin: str = "data",
) -> Window:
    """The leads of `batch` decided in [since, until), scored by `model` (a `LeadModel`) as of their decision time
    (closed leads) or their `as_of` (open ones); sales_ready: what the handoff policy would pass to sales at
    `capacity_share` of the window's selling hours, as training measures closes at capacity."""
    from model import FeatureValues
    from training.capacity_eval import capacity_budget, select_at_capacity

    leads = batch.leads
    when_col = c.DECIDED_AT if c.DECIDED_AT in leads.columns else c.CREATED_AT
    when = pd.to_datetime(leads[when_col]) if when_col in leads.columns else pd.Series(pd.NaT, index=leads.index)
    if c.AS_OF in leads.columns:
        when = when.where(when.notna(), pd.to_datetime(leads[c.AS_OF]))
    keep = _in_window(when, since, until)
    leads = leads.loc[keep].reset_index(drop=True)
    notes: list[str] = []
    outcome = leads[c.OUTCOME] if c.OUTCOME in leads.columns else pd.Series(pd.NA, index=leads.index, dtype="str")
    closed = outcome.notna().to_numpy()
    if c.AS_OF in leads.columns and c.DECIDED_AT in leads.columns:
        # A closed lead is judged as it was at its decision time, as training learnt from it.
        leads[c.AS_OF] = leads[c.AS_OF].where(~closed & leads[c.AS_OF].notna(), leads[c.DECIDED_AT])
    won = np.where(closed, (outcome == c.WON).to_numpy(dtype=float), np.nan)
    ids = leads[c.LEAD_ID].astype(str).to_numpy()
    if not len(leads):
        return Window(origin, since, until, ids, np.array([]), np.array([]), notes=notes)
    window_batch = LeadBatch(leads, batch.events)
    fe = model.features
    report = fe.inspect(window_batch)
    _, columns = fe.columns_of(window_batch)
    values = fe.transform_columns(columns)
    prediction = model.predict(FeatureValues(values))
    hours = prediction.expected_hours
    budget = capacity_budget(leads, hours, capacity_share)
    sales_ready = select_at_capacity(ids, prediction.p_close, hours, budget)
    realised = (
        leads[c.SALES_HOURS].to_numpy(dtype=float) if c.SALES_HOURS in leads.columns else np.full(len(leads), np.nan)
    )
    notes.append(
        f"sales_ready: the {int(sales_ready.sum()):,} leads the handoff policy passes to sales at "
        f"{capacity_share:.0%} of the window's selling hours ({budget:,.0f} h)"
    )
    return Window(
        origin=origin,
        since=since,
        until=until,
        lead_ids=ids,
        p_close=prediction.p_close,
        won=won,
        sales_ready=sales_ready,
        expected_hours=hours,
        realised_hours=realised,
        source=leads[c.SOURCE].astype(str).to_numpy() if c.SOURCE in leads.columns else None,
        values=values[model.input.rows],
        columns=list(model.columns),
        unseen=report.unseen_categories,
        attribute_features={a.column: a.feature for a in model.schema.attributes},
        notes=notes,
    )


def window_from_log(
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    model_version: str,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> Window:
    """The leads `model_version` scored in [since, until) according to the prediction log, each with its latest
    score and stage, joined with the imported outcomes."""
    log = predictions.loc[predictions["model_version"].astype(str) == str(model_version)]
    log = log.loc[_in_window(pd.to_datetime(log["scored_at"]), since, until)]
    notes = []
    other = int((predictions["model_version"].astype(str) != str(model_version)).sum())
    if other:
        notes.append(f"{other:,} logged scores of other model versions left out")
    log = log.sort_values(["scored_at", "id"] if "id" in log.columns else ["scored_at"])
    latest = log.groupby("lead_id", sort=True).agg(p_close=("p_close", "last"), stage=("stage", "last"))
    # A lead scored by /score after /rank keeps the stage /rank gave it.
    stages = log.dropna(subset=["stage"]).groupby("lead_id")["stage"].last()
    latest["stage"] = stages.reindex(latest.index)
    joined = latest.join(outcomes.set_index(c.LEAD_ID)[[c.OUTCOME]], how="left")
    outcome = joined[c.OUTCOME]
    won = np.where(outcome.notna(), (outcome == c.WON).to_numpy(dtype=float), np.nan)
    ranked = joined["stage"].notna().to_numpy()
    if len(joined) and not ranked.any():
        notes.append("no lead in the window was ranked (/rank): the sales_ready checks need stages")
    return Window(
        origin="prediction log",
        since=since,
        until=until,
        lead_ids=joined.index.astype(str).to_numpy(),
        p_close=joined["p_close"].to_numpy(dtype=float),
        won=won,
        sales_ready=(joined["stage"] == "sales_ready").to_numpy() if ranked.any() else None,
        notes=notes,
    )


# --- checks -------------------------------------------------------------------------------------------------


def _band(value: float, watch: float, act: float) -> str:
    return ACT if value >= act else WATCH if value >= watch else OK


def _psi_of(dist: Distribution, values: np.ndarray) -> float:
    return psi(dist.shares, binned(dist, values))


def _not_judged(name: str, title: str, reason: str, action: str = "nothing to do now") -> Check:
    return Check(name, title, NOT_JUDGED, reason, action)


def _score_check(reference: Reference | None, window: Window) -> Check:
    title = "Score drift"
    if reference is None:
        return _not_judged("score_psi", title, "the model stores no training reference", "retrain to store one")
    n = len(window.p_close)
    if n < MIN_LEADS_FOR_DRIFT:
        return _not_judged("score_psi", title, f"only {n:,} leads; {MIN_LEADS_FOR_DRIFT} needed to judge drift")
    value = _psi_of(reference.score, window.p_close)
    verdict = _band(value, PSI_WATCH, PSI_ACT)
    mean_now = float(np.mean(window.p_close))
    reason = (
        f"PSI of p_close {value:.3f} against training ({_words(verdict)}); mean p_close {mean_now:.1%} now, "
        f"{reference.positive_rate:.1%} of the training leads closed"
    )
    action = {
        OK: "nothing to do",
        WATCH: "look at which features moved and at the realised close rates below",
        ACT: "the scores no longer look like training: find the cause (feature and source checks) and retrain",
    }[verdict]
    return Check("score_psi", title, verdict, reason, action, value)


def _words(verdict: str) -> str:
    return {OK: "stable", WATCH: "moved", ACT: "changed"}[verdict]


def _feature_checks(reference: Reference | None, window: Window) -> tuple[list[Check], dict[str, float]]:
    titles = {
        "feature_psi": "Feature drift",
        "source_mix": "Source mix",
        "new_categories": "New categories",
        "missing_values": "Missing values",
    }
    if window.values is None:
        why = "the prediction log keeps no features; run with --data or --spec to judge them"
        return [_not_judged(name, title, why) for name, title in titles.items()], {}
    if reference is None:
        why = "the model stores no training reference (trained before monitoring existed)"
        return [_not_judged(name, title, why, "retrain to store one") for name, title in titles.items()], {}
    n = window.values.shape[1]
    if n < MIN_LEADS_FOR_DRIFT:
        why = f"only {n:,} leads; {MIN_LEADS_FOR_DRIFT} needed to judge drift"
        return [_not_judged(name, title, why) for name, title in titles.items()], {}
    by_column = {col: k for k, col in enumerate(window.columns)}
    values = {name: _psi_of(dist, window.values[by_column[name]]) for name, dist in reference.features.items()
              if name in by_column}  # fmt: skip
    ordered = dict(sorted(values.items(), key=lambda kv: -kv[1]))
    checks = []

    worst_name, worst = next(iter(ordered.items()), ("", 0.0))
    verdict = _band(worst, PSI_WATCH, PSI_ACT)
    moved = [f"{k} {v:.2f}" for k, v in ordered.items() if v >= PSI_WATCH][:5]
    reason = (
        f"largest PSI {worst:.3f} ({worst_name})"
        + (f"; {len([v for v in ordered.values() if v >= PSI_WATCH])} features moved: {', '.join(moved)}" if moved
           else f"; all {len(ordered)} features stable")
    )  # fmt: skip
    action = {
        OK: "nothing to do",
        WATCH: "check with marketing what changed for these features (campaign, tracking, form)",
        ACT: "what these features mean has changed: fix the data if it is broken, else retrain on recent history",
    }[verdict]
    checks.append(Check("feature_psi", titles["feature_psi"], verdict, reason, action, worst, {"top": moved}))

    source_feature = window.attribute_features.get(c.SOURCE)
    if reference.source_mix is not None and source_feature in by_column:
        mix = reference.source_mix
        now = binned(mix, window.values[by_column[source_feature]])
        value = psi(mix.shares, now)
        labels = [*mix.labels, "(missing or new)"]
        changes = sorted(zip(labels, mix.shares, now, strict=True), key=lambda r: -abs(r[2] - r[1]))
        shifts = [f"{lab} {old:.0%} -> {new:.0%}" for lab, old, new in changes[:3] if abs(new - old) >= 0.005]
        verdict = _band(value, PSI_WATCH, PSI_ACT)
        reason = f"PSI of the source mix {value:.3f}" + (f": {', '.join(shifts)}" if shifts else "")
        action = {
            OK: "nothing to do",
            WATCH: "expect the handoff to change; compare channels by close rate, not lead counts",
            ACT: "the channel mix changed: check per-source calibration below and retrain if it is off",
        }[verdict]
        details = {"shares": {lab: {"training": float(o), "now": float(x)} for lab, o, x in changes}}
        checks.append(Check("source_mix", titles["source_mix"], verdict, reason, action, value, details))
    else:
        checks.append(_not_judged("source_mix", titles["source_mix"], "the model has no source feature"))

    unseen_leads = sum(sum(counts.values()) for counts in window.unseen.values())
    share = unseen_leads / n
    verdict = _band(share, NEW_CATEGORY_WATCH, NEW_CATEGORY_ACT)
    if window.unseen:
        listed = [
            f"{col}: {', '.join(f'{v!r} ({k})' for v, k in list(counts.items())[:3])}"
            for col, counts in window.unseen.items()
        ]
        reason = f"{share:.1%} of values never seen in training ({'; '.join(listed)})"
    else:
        reason = "no category unseen in training"
    action = {
        OK: "nothing to do",
        WATCH: "the model treats new categories as missing: check they are real and not typos",
        ACT: "many leads carry categories the model never saw: map them in the spec or retrain",
    }[verdict]
    checks.append(
        Check("new_categories", titles["new_categories"], verdict, reason, action, share, {"unseen": window.unseen})
    )

    rises: dict[str, float] = {}
    for column, feature in window.attribute_features.items():
        if feature not in reference.features or feature not in by_column:
            continue
        dist = reference.features[feature]
        now_missing = float(binned(dist, window.values[by_column[feature]])[-1])
        if dist.kind == "categorical":
            now_missing -= sum(window.unseen.get(column, {}).values()) / n
        rises[column] = now_missing - dist.missing
    worst_col, rise = max(rises.items(), key=lambda kv: kv[1], default=("", 0.0))
    verdict = _band(rise, MISSING_WATCH, MISSING_ACT)
    reason = (
        f"{worst_col} is missing for {rise:+.1%} more leads than in training"
        if rise >= 0.005
        else "missing values as in training"
    )
    action = {
        OK: "nothing to do",
        WATCH: f"check the form or the export that fills {worst_col}",
        ACT: f"{worst_col} stopped being filled: fix the data flow before trusting the scores",
    }[verdict]
    checks.append(Check("missing_values", titles["missing_values"], verdict, reason, action, rise, {"rise": rises}))
    return checks, ordered


def _calibration_checks(window: Window, test_auc: float | None) -> list[Check]:
    from training.evaluate import expected_calibration_error, ranking_metrics

    closed = window.closed
    y, p = window.won[closed], window.p_close[closed]
    n, wins = len(y), int(np.sum(y))
    enough = n >= MIN_CLOSED and MIN_WON <= wins <= n - MIN_WON
    why = (
        f"{n:,} closed leads with {wins:,} won in the window; {MIN_CLOSED} closed and {MIN_WON} won and lost "
        "needed (import outcomes with `leadrank outcomes import`, or widen --since/--until)"
    )
    if not enough:
        return [
            _not_judged("calibration_ece", "Calibration", why),
            _not_judged("auc", "Ranking (AUC)", why),
        ]
    ece = expected_calibration_error(y, p)
    verdict = _band(ece, ECE_WATCH, ECE_ACT)
    realised, predicted = float(np.mean(y)), float(np.mean(p))
    reason = f"ECE {ece:.3f} on {n:,} closed leads; {realised:.1%} closed against {predicted:.1%} predicted"
    action = {
        OK: "nothing to do",
        WATCH: "the percentages drift from what happens: watch the next window; retrain if it persists",
        ACT: "the percentages no longer mean what they say: retrain (the gate checks calibration)",
    }[verdict]
    checks = [Check("calibration_ece", "Calibration", verdict, reason, action, ece)]

    auc = ranking_metrics(y, p)["roc_auc"]
    se = auc_standard_error(auc, wins, n - wins)
    if test_auc is None:
        checks.append(
            Check("auc", "Ranking (AUC)", OK if auc >= 0.6 else WATCH, f"AUC {auc:.3f} (±{se:.3f}) on the window; the "
                  "model records no test AUC to compare with", "nothing to do" if auc >= 0.6 else "retrain", auc)
        )  # fmt: skip
        return checks
    drop = test_auc - auc
    z = drop / se if se > 0 else math.inf
    if drop >= AUC_DROP_ACT[0] and z >= AUC_DROP_ACT[1]:
        verdict = ACT
    elif drop >= AUC_DROP_WATCH[0] and z >= AUC_DROP_WATCH[1]:
        verdict = WATCH
    else:
        verdict = OK
    reason = f"AUC {auc:.3f} (±{se:.3f}) against {test_auc:.3f} on the model's test period ({-drop:+.3f})"
    action = {
        OK: "nothing to do",
        WATCH: "the ranking weakens: compare per source below; retrain if it persists",
        ACT: "the model ranks leads markedly worse than when it was tested: retrain",
    }[verdict]
    checks.append(Check("auc", "Ranking (AUC)", verdict, reason, action, auc, {"test_auc": test_auc, "se": se}))
    return checks


def _plan_verdict(gap: float, z: float) -> str:
    if abs(gap) >= PLAN_ACT[0] and abs(z) >= PLAN_ACT[1]:
        return ACT
    if abs(gap) >= PLAN_WATCH[0] and abs(z) >= PLAN_WATCH[1]:
        return WATCH
    return OK


def _plan_checks(window: Window) -> list[Check]:
    titles = ("sales_ready_close_rate", "Close rate of sales_ready leads"), ("closes_per_hour", "Closes per hour")
    if window.sales_ready is None:
        why = "no stages in the window (the leads were scored, not ranked)"
        return [_not_judged(name, title, why) for name, title in titles]
    rows = window.sales_ready & window.closed
    n = int(rows.sum())
    if n < MIN_SALES_READY_CLOSED:
        why = f"only {n:,} sales_ready leads have an outcome; {MIN_SALES_READY_CLOSED} needed"
        return [_not_judged(name, title, why) for name, title in titles]
    y, p = window.won[rows], window.p_close[rows]
    wins, planned = float(y.sum()), float(p.sum())
    sd = math.sqrt(float(np.sum(p * (1 - p)))) or 1.0
    z = (wins - planned) / sd
    gap = wins / planned - 1 if planned > 0 else 0.0
    verdict = _plan_verdict(gap, z)
    reason = (
        f"{n:,} sales_ready leads closed {wins / n:.1%} against {planned / n:.1%} predicted ({gap:+.0%}, z {z:+.1f})"
    )
    action = {
        OK: "nothing to do",
        WATCH: "sales closes handed-off leads at another rate than planned: talk to sales, watch the next window",
        ACT: "the handoff promises closes it does not deliver: retrain, and check the capacity plan",
    }[verdict]
    checks = [Check(titles[0][0], titles[0][1], verdict, reason, action, gap, {"z": z, "leads": n})]

    if window.expected_hours is None:
        checks.append(_not_judged(*titles[1], "the prediction log keeps no expected hours; run with --data"))
        return checks
    planned_hours = float(window.expected_hours[rows].sum())
    spent = window.realised_hours[rows] if window.realised_hours is not None else np.full(n, np.nan)
    known = ~np.isnan(spent)
    real_hours = float(np.where(known, spent, window.expected_hours[rows]).sum())
    plan_rate, real_rate = planned / planned_hours, wins / real_hours
    gap_h = real_rate / plan_rate - 1
    verdict = _plan_verdict(gap_h, z if np.sign(z) == np.sign(gap_h) else 0.0)
    hours_note = "" if known.all() else f" ({int((~known).sum()):,} without recorded hours counted as planned)"
    reason = (
        f"{real_rate:.3f} closes per selling hour realised against {plan_rate:.3f} planned ({gap_h:+.0%})" + hours_note
    )
    action = {
        OK: "nothing to do",
        WATCH: "effort or close rates differ from plan: compare hours per lead with sales",
        ACT: "the capacity plan is off: retrain (the effort head learns the hours) and revisit capacity",
    }[verdict]
    checks.append(Check(titles[1][0], titles[1][1], verdict, reason, action, real_rate, {"planned": plan_rate}))
    return checks


def _per_source(window: Window, reference: Reference | None) -> list[dict[str, Any]]:
    if window.source is None:
        return []
    from training.evaluate import expected_calibration_error, ranking_metrics

    shares_ref: Mapping[str, float] = {}
    if reference is not None and reference.source_mix is not None:
        shares_ref = dict(zip(reference.source_mix.labels, map(float, reference.source_mix.shares), strict=False))
    rows = []
    for source in sorted(set(window.source.tolist())):
        m = window.source == source
        closed = m & window.closed
        y, p = window.won[closed], window.p_close[closed]
        row: dict[str, Any] = {
            "source": source,
            "leads": int(m.sum()),
            "share": float(m.mean()),
            "training_share": shares_ref.get(source),
            "closed": int(closed.sum()),
            "close_rate": float(y.mean()) if len(y) else None,
            "mean_p_close": float(p.mean()) if len(p) else None,
            "ece": None,
            "auc": None,
        }
        if len(y) >= MIN_SOURCE_CLOSED:
            row["ece"] = expected_calibration_error(y, p)
            if 0 < y.sum() < len(y):
                row["auc"] = ranking_metrics(y, p)["roc_auc"]
        rows.append(row)
    return rows


def _calibration_curve(window: Window, bins: int = 10) -> list[dict[str, Any]]:
    closed = window.closed
    y, p = window.won[closed], window.p_close[closed]
    if not len(y):
        return []
    # The bins of `training.evaluate.expected_calibration_error`: equal width in p.
    which = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=p, minlength=bins)
    sum_y = np.bincount(which, weights=y, minlength=bins)
    return [
        {"bin": f"{k / bins:.1f}-{(k + 1) / bins:.1f}", "leads": int(n[k]), "mean_p_close": sum_p[k] / n[k],
         "close_rate": sum_y[k] / n[k]}
        for k in range(bins) if n[k]
    ]  # fmt: skip


def judge(window: Window, reference: Reference | None, model_version: str, test_auc: float | None) -> MonitorReport:
    """Every check on `window` against the model's training `reference` and its test AUC."""
    n = len(window.lead_ids)
    closed = window.closed
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    since = None if window.since is None else str(window.since)
    until = None if window.until is None else str(window.until)
    if n == 0:
        span = f"from {since or 'the start'} to {until or 'now'}"
        return MonitorReport(
            model_version, window.origin, since, until, 0, 0, 0, NOT_JUDGED,
            f"Nothing to judge: no lead of model version {model_version} in the window ({span}) in the "
            f"{window.origin}.", [], notes=window.notes, created_at=created,
        )  # fmt: skip
    checks = [_score_check(reference, window)]
    feature_checks, feature_psi = _feature_checks(reference, window)
    checks += feature_checks
    checks += _calibration_checks(window, test_auc)
    checks += _plan_checks(window)
    judged = [check for check in checks if check.verdict != NOT_JUDGED]
    verdict = max((check.verdict for check in judged), key=_RANK.__getitem__, default=NOT_JUDGED)
    if verdict == NOT_JUDGED:
        headline = f"Nothing to judge: {n:,} leads in the window, too few for any check."
    elif verdict == OK:
        headline = f"The champion (version {model_version}) still holds: all {len(judged)} checks judged are ok."
    else:
        flagged = [check.title.lower() for check in judged if check.verdict == verdict]
        what = "needs action" if verdict == ACT else "needs watching"
        headline = f"Version {model_version} {what}: {', '.join(flagged)}."
    return MonitorReport(
        model_version=model_version,
        origin=window.origin,
        since=since,
        until=until,
        n_leads=n,
        n_closed=int(closed.sum()),
        n_won=int(np.nansum(window.won)),
        verdict=verdict,
        headline=headline,
        checks=checks,
        per_source=_per_source(window, reference),
        calibration=_calibration_curve(window),
        feature_psi=feature_psi,
        notes=window.notes,
        created_at=created,
    )
