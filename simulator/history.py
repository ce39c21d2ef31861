"""A simulated B2B CRM history with a known ground truth: leads, engagement events and per-lead truth.

The simulator exists so the whole product can be shown, tested and benchmarked without anyone's CRM data, and
so that evaluation can compare learned scores with the probabilities that really generated the outcomes.

Generative story (every point below holds in the output and is checked by tests/simulator/test_history.py):

1. Arrivals. Each lead's decision time (`decided_at`, when marketing must decide whether to hand it to sales)
   is uniform over the `months` calendar months before `reference_date`. It was created (`created_at`) a few
   days to a few weeks earlier (2 days + a gamma delay, shorter for high intent).
2. Sources and drift. The source mix drifts linearly over the period: inbound (`inbound_content`,
   `inbound_inquiry`) grows from about 20% to about 40% of leads while `telemarketing` and `cold_call` shrink;
   `event` and `referral` stay at about 10% each. A random split therefore differs from a time-ordered one.
3. Latents. A latent *fit* comes from firmographics (`industry`, `company_size` with a sweet spot around 600
   employees that falls off quadratically in log size on both sides, `country`, `job_level`) plus unobserved
   noise. A latent *buying intent* is normal around
   a source-specific mean (inquiries and inbound content high, referrals and events medium, telemarketing
   contacts who said "send me some documents" and cold calls low), nudged up by fit.
4. Engagement. Each lead has a Poisson number of typed, timestamped events between `created_at` and
   `decided_at`, with a rate that grows with intent and fit, times a gamma over-dispersion (so activity is
   informative but noisy; about 20-40 events a lead on average). The funnel stage of each event (early:
   `page_visit`, `email_click`, `whitepaper_download`; middle: `case_study_read`, `webinar_attended`;
   decision: `tech_doc_download`, `pricing_view`, `demo_request`, `trial_request`) is drawn with a decision
   share that grows with intent. Decision-stage events of hot leads concentrate close to the decision time;
   early-stage events of cold leads concentrate near creation, so hot leads are both more active and more
   recent. Assets are `page-<k>`, `mail-<k>`, `wp-<k>`, `cs-<k>`, `webinar-<k>`, `doc-<k>`, `pricing`;
   requests carry none.
5. Outcome. The true close probability is
   `sigmoid(source intercept + authority(job_level) * intent + fit + unobserved deal noise)`, about 8-15%
   overall, several times higher for inquiries and inbound content than for telemarketing, lowest for cold
   calls. Buying authority is 1 for directors and above, lower for managers and individual contributors and
   near zero for students: they engage like buyers but research for someone else, so the same engagement means
   less. This interaction and the size sweet spot are the two effects a score that is additive in its inputs
   (points, logistic regression) cannot represent. The outcome is a Bernoulli draw from it. What a model can
   see (source, firmographics, engagement) reaches roughly ROC AUC 0.80-0.88, not 0.99.
6. The leak trap. After `decided_at`, `meeting` and `contract_download` events occur with rates that depend on
   the (possibly not yet known) outcome: won deals have several meetings and nearly always a contract
   download, lost ones few. They happen strictly after `decided_at` and never after `closed_at` or
   `reference_date`; any feature that counts them is leaking the label.
7. Effort. If handed off, a lead costs selling hours that depend on source (inbound: several hours to a couple
   of days; telemarketing and cold calls: one to two hours), grow with company size and intent (so effort
   varies within a source), and are three to four times higher for won deals than for lost ones. Realised
   `sales_hours` is log-normal noise (mean one) around that expectation.
8. Time to close. Won deals close after a gamma number of days (1 day at least) from `decided_at`, markedly
   faster for inbound and high-intent leads than for telemarketing and cold calls, slightly slower for large
   companies; lost deals are closed out on a similar clock.
9. Deal value grows with company size (about size^0.45, log-normal noise) and is known for every lead (it is
   the quoted opportunity size, not a realised amount, so it does not reveal the outcome).
10. Open leads. Leads decided in the last `open_window_days` before `reference_date` have not been worked yet:
    they are the leads to score "today" and have no post-decision events. Leads decided earlier whose deal
    would resolve after `reference_date` are in progress. Both kinds are open: `outcome`, `closed_at` and
    `sales_hours` are missing. Every other lead has `outcome` won/lost, `closed_at` and `sales_hours`.

11. Drift (only when asked for: `Drift`). In the last `Drift.months` months the world changes: leads arrive in
    another source mix (`Drift.source_shares`, by default a telemarketing campaign: half of all leads) and one
    engagement type stops predicting purchases (`Drift.uninformative_type`, by default `tech_doc_download`: the
    documents are mailed out in a campaign, so how often a lead opens one no longer follows its intent; each
    lead's rate is a random gamma draw with mean `Drift.uninformative_rate` (6), many leads none, a few many).
    Outcomes still follow point 5, so what the type said before is now noise. The truth is the truth of the
    drifted world.

`truth` holds, for every lead (open ones too), `p_close`, `expected_hours` (expected selling hours if handed
off: `p * hours_if_won + (1 - p) * hours_if_lost`) and `expected_days_to_close` (expected days from
`decided_at` to close, given the deal is won). It is for evaluation only: training and serving must never read
it.

The same `seed` gives the same frames and, through `write_history`, the same bytes. Nothing depends on the
clock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import contract as c

log = logging.getLogger(__name__)

DEFAULT_REFERENCE_DATE: Final = datetime(2026, 10, 1)
DEFAULT_MONTHS: Final = 18
DEFAULT_OPEN_WINDOW_DAYS: Final = 21
MAX_MONTHS: Final = 120
# Peak memory is about 2.2 GiB per million leads (events included); 5 million stays well inside 24 GiB.
MAX_LEADS: Final = 5_000_000

TRUTH_P_CLOSE: Final = "p_close"
TRUTH_EXPECTED_HOURS: Final = "expected_hours"
TRUTH_EXPECTED_DAYS: Final = "expected_days_to_close"
TRUTH_COLUMNS: Final = (c.LEAD_ID, TRUTH_P_CLOSE, TRUTH_EXPECTED_HOURS, TRUTH_EXPECTED_DAYS)
TABLE_NAMES: Final = ("leads", "events", "truth")

Format = Literal["parquet", "csv"]
FORMATS: Final = ("parquet", "csv")
# Every extension the loader (features.io) recognises for a table.
_SUFFIXES: Final = (".parquet", ".pq", ".csv")

# --- vocabulary ---------------------------------------------------------------------------------------------

SOURCES: Final = ("inbound_content", "inbound_inquiry", "telemarketing", "cold_call", "event", "referral")
INBOUND_SOURCES: Final = ("inbound_content", "inbound_inquiry")
EARLY_TYPES: Final = ("page_visit", "email_click", "whitepaper_download")
MIDDLE_TYPES: Final = ("case_study_read", "webinar_attended")
DECISION_TYPES: Final = ("tech_doc_download", "pricing_view", "demo_request", "trial_request")
LEAK_TYPES: Final = ("meeting", "contract_download")
EVENT_TYPES: Final = EARLY_TYPES + MIDDLE_TYPES + DECISION_TYPES + LEAK_TYPES

INDUSTRIES: Final = (
    "software",
    "finance",
    "manufacturing",
    "healthcare",
    "logistics",
    "telecom",
    "energy",
    "retail",
    "education",
    "public_sector",
)
COUNTRIES: Final = ("DE", "US", "GB", "FR", "NL", "CH", "SE", "ES", "IT", "PL")
JOB_LEVELS: Final = ("c_level", "vp", "director", "manager", "individual_contributor", "student")

# --- model constants (per source, in SOURCES order) ---------------------------------------------------------
# Chosen so that close rates, effort and speed match the story above; tests pin the resulting behaviour.

_SHARE_START: Final = np.array([0.12, 0.08, 0.36, 0.24, 0.10, 0.10])
_SHARE_END: Final = np.array([0.24, 0.16, 0.26, 0.14, 0.10, 0.10])
_INTENT_MEAN: Final = np.array([0.5, 0.9, -0.5, -0.9, 0.0, 0.3])
_CLOSE_INTERCEPT: Final = np.array([-2.6, -2.4, -3.1, -3.5, -2.8, -2.6])
# Digital touches per lead at intent 0: telemarketing and cold-call contacts rarely browse the site.
_EVENT_RATE: Final = np.array([26.0, 26.0, 16.0, 13.0, 21.0, 19.0])
# Shift of the funnel depth: an inquiry is already a decision-stage act.
_DEPTH_SHIFT: Final = np.array([0.0, 0.4, -0.2, -0.3, 0.0, 0.1])
_HOURS_WON: Final = np.array([14.0, 16.0, 6.0, 5.0, 10.0, 12.0])
_HOURS_LOST: Final = np.array([4.5, 5.0, 1.5, 1.2, 3.0, 4.0])
_DAYS_TO_CLOSE: Final = np.array([30.0, 21.0, 70.0, 85.0, 45.0, 35.0])

_INDUSTRY_P: Final = np.array([0.16, 0.12, 0.16, 0.10, 0.08, 0.06, 0.06, 0.10, 0.08, 0.08])
_INDUSTRY_FIT: Final = np.array([0.4, 0.3, 0.2, 0.1, 0.0, 0.1, 0.0, -0.2, -0.4, -0.3])
_COUNTRY_P: Final = np.array([0.24, 0.18, 0.12, 0.10, 0.07, 0.05, 0.05, 0.07, 0.07, 0.05])
_COUNTRY_FIT: Final = np.array([0.2, 0.1, 0.1, 0.0, 0.15, 0.2, 0.1, -0.1, -0.1, -0.15])
_JOB_P: Final = np.array([0.06, 0.10, 0.18, 0.30, 0.30, 0.06])
_JOB_FIT: Final = np.array([0.1, 0.4, 0.5, 0.2, -0.3, -1.2])
# Buying authority: how much a contact's own interest moves the deal. Directors and above decide; a manager
# recommends; individual contributors and students research for someone else, so their engagement says less.
_JOB_AUTHORITY: Final = np.array([1.0, 1.0, 1.0, 0.8, 0.5, 0.15])
# Ideal customer profile by size: fit peaks near 10**2.8 (about 600 employees) and falls off on both sides
# (small firms lack budget, very large ones buy through long procurement), quadratic in log10(size).
_SIZE_SWEET_SPOT: Final = 2.8
_SIZE_FIT_PEAK: Final = 0.1
_SIZE_FIT_CURVE: Final = 0.4

# Within-stage type mix (EARLY_TYPES, MIDDLE_TYPES, DECISION_TYPES order).
_EARLY_MIX: Final = np.array([0.62, 0.28, 0.10])
_MIDDLE_MIX: Final = np.array([0.6, 0.4])
_DECISION_MIX: Final = np.array([0.38, 0.36, 0.15, 0.11])

# Assets: (prefix, how many) per event type; None: the event carries no asset.
_ASSETS: Final[dict[str, tuple[str, int] | None]] = {
    "page_visit": ("page", 60),
    "email_click": ("mail", 40),
    "whitepaper_download": ("wp", 25),
    "case_study_read": ("cs", 20),
    "webinar_attended": ("webinar", 12),
    "tech_doc_download": ("doc", 30),
    "pricing_view": ("pricing", 1),
    "demo_request": None,
    "trial_request": None,
    "meeting": None,
    "contract_download": ("contract", 1),
}

_US_PER_S: Final = 1_000_000
_S_PER_DAY: Final = 86_400


class SimulationError(ValueError):
    """Invalid simulation parameters, or a truth table that cannot be read."""


# A telemarketing campaign: in SOURCES order.
DRIFT_SOURCE_SHARES: Final = (0.10, 0.06, 0.50, 0.14, 0.10, 0.10)


@dataclass(frozen=True)
class Drift:
    """A changed world in the last `months` months of the simulated period (point 11 of the story)."""

    months: int
    source_shares: tuple[float, ...] = DRIFT_SOURCE_SHARES
    uninformative_type: str = "tech_doc_download"
    uninformative_rate: float = 6.0

    def check(self, months: int) -> None:
        if isinstance(self.months, bool) or not isinstance(self.months, int) or not 1 <= self.months <= months:
            raise SimulationError(f"drift months must be a whole number between 1 and {months}, got {self.months!r}")
        shares = np.asarray(self.source_shares, dtype=float)
        if len(shares) != len(SOURCES) or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
            raise SimulationError(
                f"drift source shares must be {len(SOURCES)} non-negative numbers summing to 1 "
                f"({', '.join(SOURCES)}), got {list(self.source_shares)}"
            )
        pre_decision = EARLY_TYPES + MIDDLE_TYPES + DECISION_TYPES
        if self.uninformative_type not in pre_decision:
            raise SimulationError(
                f"drift type must be one of {', '.join(pre_decision)}, got {self.uninformative_type!r}"
            )
        if not 0 <= self.uninformative_rate <= 100:
            raise SimulationError(f"drift rate must be between 0 and 100, got {self.uninformative_rate!r}")


@dataclass(frozen=True)
class SimulatedHistory:
    """A simulated CRM history: canonical `leads` and `events`, plus the evaluation-only `truth`."""

    leads: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _check_params(n_leads: int, months: int, open_window_days: int) -> None:
    if isinstance(n_leads, bool) or not isinstance(n_leads, int | np.integer) or n_leads < 1:
        raise SimulationError(f"n_leads must be a positive integer, got {n_leads!r}")
    if n_leads > MAX_LEADS:
        raise SimulationError(f"n_leads must be at most {MAX_LEADS:,}, got {n_leads:,}")
    if isinstance(months, bool) or not isinstance(months, int | np.integer) or not 1 <= months <= MAX_MONTHS:
        raise SimulationError(f"months must be an integer between 1 and {MAX_MONTHS}, got {months!r}")
    if isinstance(open_window_days, bool) or not isinstance(open_window_days, int | np.integer):
        raise SimulationError(f"open_window_days must be an integer, got {open_window_days!r}")
    if open_window_days < 0:
        raise SimulationError(f"open_window_days must be >= 0, got {open_window_days}")


def _to_reference_us(reference_date: datetime | str | pd.Timestamp) -> int:
    try:
        ts = pd.Timestamp(reference_date)
    except (TypeError, ValueError) as exc:
        raise SimulationError(f"reference_date {reference_date!r} is not a date: {exc}") from exc
    if ts is pd.NaT:
        raise SimulationError("reference_date must be a date, got NaT")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.value) // 1000


def _draw_categories(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    cum = np.cumsum(probs / probs.sum())
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(probs) - 1).astype(np.int8)


def _label(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Strings for integer codes (negative: null), built by one arrow `take` rather than a Python loop."""
    # A trailing null entry in the dictionary turns code -1 into null without a separate validity mask.
    dictionary = pa.array([*values, None], type=pa.large_string())
    if codes.min(initial=0) < 0:
        codes = np.where(codes < 0, len(values), codes)
    return dictionary.take(pa.array(codes))


def _str_series(arr: pa.Array) -> pd.Series:
    return pd.Series(arr, dtype="str", copy=False)


def _lead_ids(n: int) -> pa.Array:
    """`L0000001`, `L0000002`, ...: fixed width, so that repeating them per event is a plain byte gather."""
    width = max(7, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.large_string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar("L", pa.large_string()), digits, pa.scalar("", pa.large_string()))


def _repeat_ids(ids: pa.Array, idx: np.ndarray) -> pa.Array:
    """`ids[idx]` for fixed-width ids, gathering whole ids as opaque byte records (faster than arrow take)."""
    width = len(ids[0].as_py()) if len(ids) else 1
    data = np.frombuffer(ids.buffers()[2], dtype=f"V{width}", count=len(ids))[idx]
    offsets = np.arange(0, (len(idx) + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(len(idx), pa.py_buffer(offsets), pa.py_buffer(data))


def _asset_vocabulary() -> tuple[list[str], np.ndarray, np.ndarray]:
    """All asset names, and per event type the offset of its first asset and how many it has (0: none)."""
    names: list[str] = []
    offsets = np.zeros(len(EVENT_TYPES), dtype=np.int32)
    counts = np.zeros(len(EVENT_TYPES), dtype=np.int32)
    for i, event_type in enumerate(EVENT_TYPES):
        spec = _ASSETS[event_type]
        offsets[i] = len(names)
        if spec is None:
            continue
        prefix, k = spec
        counts[i] = k
        names.extend([prefix] if k == 1 else [f"{prefix}-{j}" for j in range(1, k + 1)])
    return names, offsets, counts


_ASSET_LEVELS: Final = 4096


def _draw_assets(rng: np.random.Generator, types: np.ndarray, offsets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Asset code per event (-1: none).

    A squared uniform skews toward low k: a few popular assets and a long tail, as in content libraries. The
    uniform is quantised to 4096 levels so that each event costs one lookup in a small (types x levels) table
    instead of several passes of float arithmetic.
    """
    q = (np.arange(_ASSET_LEVELS) + 0.5) / _ASSET_LEVELS
    pick = np.minimum((q[None, :] ** 2 * counts[:, None]).astype(np.int32), np.maximum(counts[:, None] - 1, 0))
    table = np.where(counts[:, None] > 0, offsets[:, None] + pick, -1).astype(np.int16).ravel()
    cell = types.astype(np.int32)
    cell <<= 12  # log2(_ASSET_LEVELS)
    cell |= rng.integers(0, _ASSET_LEVELS, len(types), dtype=np.uint16)
    return table[cell]


@dataclass(frozen=True)
class _Leads:
    """Lead-level draws, numeric, in created_at order."""

    created_us: np.ndarray
    decided_us: np.ndarray
    source: np.ndarray
    industry: np.ndarray
    company_size: np.ndarray
    country: np.ndarray
    job_level: np.ndarray
    intent: np.ndarray
    fit: np.ndarray
    p_close: np.ndarray
    won: np.ndarray
    hours_won: np.ndarray
    hours_lost: np.ndarray
    sales_hours: np.ndarray
    days_to_close: np.ndarray
    resolved_us: np.ndarray
    deal_value: np.ndarray
    drifted: np.ndarray  # bool: decided in the drifted period


def _simulate_leads(
    rng: np.random.Generator, n: int, start_us: int, ref_us: int, drift: Drift | None, drift_us: int
) -> _Leads:
    span_s = (ref_us - start_us) // _US_PER_S
    decided_s = np.sort(rng.integers(0, span_s, n))
    t = decided_s / span_s
    # Source mix drifts linearly with the decision time: one uniform compared with per-lead cumulative shares.
    shares = _SHARE_START[None, :] + t[:, None] * (_SHARE_END - _SHARE_START)[None, :]
    drifted = np.zeros(n, dtype=bool) if drift is None else start_us + decided_s * _US_PER_S >= drift_us
    if drift is not None:
        shares[drifted] = np.asarray(drift.source_shares)
    source = np.minimum((rng.random(n)[:, None] > np.cumsum(shares, axis=1)).sum(axis=1), len(SOURCES) - 1)
    source = source.astype(np.int8)

    industry = _draw_categories(rng, _INDUSTRY_P, n)
    country = _draw_categories(rng, _COUNTRY_P, n)
    job_level = _draw_categories(rng, _JOB_P, n)
    company_size = np.clip(np.rint(np.exp(rng.normal(np.log(180.0), 1.7, n))), 1, 250_000).astype(np.int64)
    x = np.log10(company_size) - _SIZE_SWEET_SPOT
    fit = (
        _INDUSTRY_FIT[industry]
        + _COUNTRY_FIT[country]
        + _JOB_FIT[job_level]
        + _SIZE_FIT_PEAK
        - _SIZE_FIT_CURVE * x**2
        + rng.normal(0.0, 0.2, n)
    )
    intent = _INTENT_MEAN[source] + 0.25 * fit + rng.normal(0.0, 1.0, n)

    deal_noise = rng.normal(0.0, 0.15, n)
    p_close = _sigmoid(_CLOSE_INTERCEPT[source] + 1.2 * _JOB_AUTHORITY[job_level] * intent + 0.7 * fit + deal_noise)
    # The deal noise (budget, competitors: nothing marketing can see) is part of p_close, so the truth is an
    # oracle no model of the observable data can reach; the outcome is a Bernoulli draw from it.
    won = rng.random(n) < p_close

    size_factor = (company_size / 200.0) ** 0.25
    intent_factor = np.exp(0.12 * intent)
    hours_won = _HOURS_WON[source] * size_factor * intent_factor
    hours_lost = _HOURS_LOST[source] * size_factor * intent_factor
    hours_expected = np.where(won, hours_won, hours_lost)
    sales_hours = np.round(hours_expected * np.exp(rng.normal(-0.5 * 0.4**2, 0.4, n)), 2)
    sales_hours = np.maximum(sales_hours, 0.25)

    days_to_close = _DAYS_TO_CLOSE[source] * np.exp(-0.2 * intent) * (company_size / 200.0) ** 0.06
    shape = 3.0
    won_days = 1.0 + rng.gamma(shape, np.maximum(days_to_close - 1.0, 0.1) / shape)
    lost_days = 1.0 + rng.gamma(2.0, np.maximum(0.8 * days_to_close - 1.0, 0.1) / 2.0)
    resolve_days = np.where(won, won_days, lost_days)

    delay_days = 2.0 + rng.gamma(2.0, 5.0, n) * np.exp(-0.15 * intent)
    decided_us = start_us + decided_s * _US_PER_S
    created_us = decided_us - np.rint(delay_days * _S_PER_DAY).astype(np.int64) * _US_PER_S
    resolved_us = decided_us + np.rint(resolve_days * _S_PER_DAY).astype(np.int64) * _US_PER_S

    deal_value = np.round(
        1800.0 * company_size**0.45 * np.exp(0.15 * _INDUSTRY_FIT[industry] + rng.normal(0.0, 0.4, n)), -1
    )

    order = np.argsort(created_us, kind="stable")
    return _Leads(
        created_us=created_us[order],
        decided_us=decided_us[order],
        source=source[order],
        industry=industry[order],
        company_size=company_size[order],
        country=country[order],
        job_level=job_level[order],
        intent=intent[order],
        fit=fit[order],
        p_close=p_close[order],
        won=won[order],
        hours_won=hours_won[order],
        hours_lost=hours_lost[order],
        sales_hours=sales_hours[order],
        days_to_close=days_to_close[order],
        resolved_us=resolved_us[order],
        deal_value=deal_value[order],
        drifted=drifted[order],
    )


def _simulate_engagement(
    rng: np.random.Generator,
    lead: _Leads,
    asset_offsets: np.ndarray,
    asset_counts: np.ndarray,
    drift: Drift | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pre-decision events: (lead index, ts in us, type code, asset code), lead-major, unsorted within a lead.

    A Poisson total split over types is the same as independent Poisson counts per (lead, type) cell, so the
    per-lead work is a small (leads x types) matrix and each event only needs its timestamp and asset drawn.
    """
    n = len(lead.source)
    n_types = len(EARLY_TYPES) + len(MIDDLE_TYPES) + len(DECISION_TYPES)
    rate = _EVENT_RATE[lead.source] * np.exp(0.9 * lead.intent + 0.15 * lead.fit)
    # Gamma over-dispersion (mean one): two equally hot leads can differ a lot in how much they click.
    rate = rate * rng.gamma(12.0, 1.0 / 12.0, n)

    depth = _sigmoid(1.3 * lead.intent + 0.4 * lead.fit + _DEPTH_SHIFT[lead.source] - 0.6)
    p_dec = 0.02 + 0.22 * depth
    p_mid = 0.08 + 0.17 * depth
    p_early = 1.0 - p_dec - p_mid
    type_p = np.concatenate(
        [p_early[:, None] * _EARLY_MIX, p_mid[:, None] * _MIDDLE_MIX, p_dec[:, None] * _DECISION_MIX], axis=1
    )
    cell_rate = rate[:, None] * type_p
    del type_p
    if drift is not None:
        # The type no longer follows intent or fit: in the drifted period each lead's rate of it is drawn at random
        # (a gamma with shape 0.5: many leads none, a few a lot), so the touches are plentiful and say nothing.
        pre_decision = EARLY_TYPES + MIDDLE_TYPES + DECISION_TYPES
        k = int(lead.drifted.sum())
        random_rate = rng.gamma(0.5, drift.uninformative_rate / 0.5, k)
        cell_rate[lead.drifted, pre_decision.index(drift.uninformative_type)] = random_rate
    cell_counts = rng.poisson(cell_rate).ravel()
    del cell_rate

    # Position in the created -> decided window from x = w ** (1 / a), w uniform, so x ~ Beta(a, 1).
    # Decision events take x with a growing with depth (hot leads act late, close to the decision); early
    # events take 1 - x, i.e. Beta(1, a), with a growing as depth falls (cold leads went quiet long before the
    # decision); middle events are uniform (a = 1).
    n_early, n_mid = len(EARLY_TYPES), len(MIDDLE_TYPES)
    exponent = np.ones((n, n_types), dtype=np.float32)
    exponent[:, :n_early] = (1.0 / (1.0 + 2.0 * (1.0 - depth)))[:, None]
    exponent[:, n_early + n_mid :] = (1.0 / (1.0 + 4.0 * depth))[:, None]

    idx = np.repeat(np.repeat(np.arange(n, dtype=np.int32), n_types), cell_counts)
    types = np.repeat(np.tile(np.arange(n_types, dtype=np.int8), n), cell_counts)
    exponent_e = np.repeat(exponent.ravel(), cell_counts)
    del exponent, cell_counts
    m = len(idx)

    # float32 throughout: positions need no more than second resolution within windows of a few weeks. A draw
    # of exactly 0 gives log 0 = -inf and position 0 (or 1, clamped below), both valid.
    with np.errstate(divide="ignore"):
        x = np.exp(np.log(rng.random(m, dtype=np.float32)) * exponent_e)
    del exponent_e
    flip = types < n_early
    x[flip] = 1.0 - x[flip]
    del flip
    window_s = ((lead.decided_us - lead.created_us) // _US_PER_S).astype(np.int32)[idx]
    x *= window_s
    offset_s = np.minimum(x.astype(np.int32), window_s - 1)
    del x, window_s
    ts = lead.created_us[idx]
    ts += offset_s.astype(np.int64) * _US_PER_S
    del offset_s
    assets = _draw_assets(rng, types, asset_offsets, asset_counts)
    return idx, ts, types, assets


def _simulate_leak(
    rng: np.random.Generator,
    lead: _Leads,
    worked: np.ndarray,
    ref_us: int,
    asset_offsets: np.ndarray,
    asset_counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Post-decision events whose occurrence depends on the outcome: the leak trap."""
    n = len(lead.source)
    end_us = np.minimum(lead.resolved_us, ref_us)
    span_s = (end_us - lead.decided_us) // _US_PER_S
    # Leads not yet worked, or resolved within seconds (only with a zero open window), get no such events.
    active = worked & (span_s >= 2)
    meetings = np.where(active, rng.poisson(np.where(lead.won, 3.0, 0.6)), 0)
    contracts = np.where(active & (rng.random(n) < np.where(lead.won, 0.9, 0.04)), 1, 0)
    meeting_code = EVENT_TYPES.index("meeting")
    contract_code = EVENT_TYPES.index("contract_download")
    per_lead = meetings + contracts
    idx = np.repeat(np.arange(n, dtype=np.int32), per_lead)
    # Within a lead's run: its meetings first, then its contract download (positions are random anyway).
    run_start = np.repeat(np.cumsum(per_lead) - per_lead, per_lead)
    rank = np.arange(len(idx)) - run_start
    types = np.where(rank < meetings[idx], meeting_code, contract_code).astype(np.int8)
    span_e = span_s[idx]
    # Strictly after the decision and strictly before the resolution (or the reference date).
    offset_s = 1 + np.minimum((rng.random(len(idx)) * (span_e - 1)).astype(np.int64), span_e - 2)
    ts = lead.decided_us[idx] + offset_s * _US_PER_S
    assets = _draw_assets(rng, types, asset_offsets, asset_counts)
    return idx, ts, types, assets


def simulate(
    n_leads: int,
    seed: int,
    months: int = DEFAULT_MONTHS,
    reference_date: datetime | str | pd.Timestamp = DEFAULT_REFERENCE_DATE,
    open_window_days: int = DEFAULT_OPEN_WINDOW_DAYS,
    drift: Drift | None = None,
) -> SimulatedHistory:
    """Simulate `n_leads` leads decided over the `months` before `reference_date`, with events and truth; with
    `drift`, the last `drift.months` of them in a changed world.

    Pure: the result depends only on the arguments. See the module docstring for the generative story.
    Raises `SimulationError` for invalid arguments.
    """
    _check_params(n_leads, months, open_window_days)
    if drift is not None:
        drift.check(months)
    ref_us = _to_reference_us(reference_date)
    ref_ts = pd.Timestamp(ref_us, unit="us")
    start_us = int((ref_ts - pd.DateOffset(months=months)).value) // 1000
    if ref_us - start_us < _S_PER_DAY * _US_PER_S:
        raise SimulationError("the simulated period must span at least one day")

    # Independent streams per stage, so that changing one stage's draws does not reshuffle the others.
    lead_ss, event_ss, leak_ss = np.random.SeedSequence(seed).spawn(3)
    drift_us = int((ref_ts - pd.DateOffset(months=drift.months)).value) // 1000 if drift is not None else ref_us
    lead = _simulate_leads(np.random.default_rng(lead_ss), n_leads, start_us, ref_us, drift, drift_us)

    open_from_us = ref_us - open_window_days * _S_PER_DAY * _US_PER_S
    to_score = lead.decided_us >= open_from_us
    is_open = to_score | (lead.resolved_us > ref_us)
    worked = ~to_score

    asset_names, asset_offsets, asset_counts = _asset_vocabulary()
    pre = _simulate_engagement(np.random.default_rng(event_ss), lead, asset_offsets, asset_counts, drift)
    post = _simulate_leak(np.random.default_rng(leak_ss), lead, worked, ref_us, asset_offsets, asset_counts)

    idx = np.concatenate([pre[0], post[0]])
    ts = np.concatenate([pre[1], post[1]])
    types = np.concatenate([pre[2], post[2]])
    assets = np.concatenate([pre[3], post[3]])
    del pre, post
    # One stable sort on (lead, ts) makes each lead's events a chronological run; the key is already sorted by
    # lead within each of the two blocks, which a stable (merge) sort exploits.
    key = (idx.astype(np.int64) << 32) | ((ts - start_us) // _US_PER_S + (1 << 31))
    order = np.argsort(key, kind="stable")
    del key
    idx, ts, types, assets = idx[order], ts[order], types[order], assets[order]
    del order

    ids = _lead_ids(n_leads)
    events = pd.DataFrame(
        {
            c.EVENT_LEAD_ID: _str_series(_repeat_ids(ids, idx)),
            c.TS: ts.view(c.TIMESTAMP_DTYPE),
            c.EVENT_TYPE: _str_series(_label(EVENT_TYPES, types)),
            c.ASSET: _str_series(_label(asset_names, assets)),
        }
    )
    del idx, ts, types, assets

    outcome = np.where(is_open, -1, np.where(lead.won, 0, 1))
    nat = np.iinfo(np.int64).min  # NaT in datetime64
    leads = pd.DataFrame(
        {
            c.LEAD_ID: _str_series(ids),
            c.CREATED_AT: lead.created_us.view(c.TIMESTAMP_DTYPE),
            c.DECIDED_AT: lead.decided_us.view(c.TIMESTAMP_DTYPE),
            c.SOURCE: _str_series(_label(SOURCES, lead.source)),
            "industry": _str_series(_label(INDUSTRIES, lead.industry)),
            "company_size": lead.company_size,
            "country": _str_series(_label(COUNTRIES, lead.country)),
            "job_level": _str_series(_label(JOB_LEVELS, lead.job_level)),
            c.OUTCOME: _str_series(_label((c.WON, c.LOST), outcome)),
            c.CLOSED_AT: np.where(is_open, nat, lead.resolved_us).view(c.TIMESTAMP_DTYPE),
            c.SALES_HOURS: np.where(is_open, np.nan, lead.sales_hours),
            c.DEAL_VALUE: lead.deal_value,
        }
    )
    p = lead.p_close
    truth = pd.DataFrame(
        {
            c.LEAD_ID: _str_series(ids),
            TRUTH_P_CLOSE: p,
            TRUTH_EXPECTED_HOURS: p * lead.hours_won + (1.0 - p) * lead.hours_lost,
            TRUTH_EXPECTED_DAYS: lead.days_to_close,
        }
    )
    log.info("simulated %d leads (%d open) and %d events", n_leads, int(is_open.sum()), len(events))
    return SimulatedHistory(leads=leads, events=events, truth=truth)


def as_of(history: SimulatedHistory, when: datetime | str | pd.Timestamp) -> SimulatedHistory:
    """What the CRM showed at `when`: the leads decided before it, the events before it, and an outcome (with its
    close date and hours) only for deals closed by then; the others are open. Truth is kept for those leads."""
    cut = pd.Timestamp(_to_reference_us(when), unit="us")
    leads = history.leads.loc[history.leads[c.DECIDED_AT] < cut].reset_index(drop=True)
    still_open = ~(leads[c.CLOSED_AT] <= cut)
    leads[c.OUTCOME] = leads[c.OUTCOME].where(~still_open)
    leads[c.CLOSED_AT] = leads[c.CLOSED_AT].where(~still_open)
    leads[c.SALES_HOURS] = leads[c.SALES_HOURS].where(~still_open)
    events = history.events.loc[history.events[c.TS] < cut]
    events = events.loc[events[c.EVENT_LEAD_ID].isin(leads[c.LEAD_ID])].reset_index(drop=True)
    truth = history.truth.loc[history.truth[c.LEAD_ID].isin(leads[c.LEAD_ID])].reset_index(drop=True)
    return SimulatedHistory(leads=leads, events=events, truth=truth)


# --- files --------------------------------------------------------------------------------------------------


def write_history(history: SimulatedHistory, out_dir: str | Path, fmt: Format = "parquet") -> dict[str, Path]:
    """Write `leads.<fmt>`, `events.<fmt>` and `truth.<fmt>` into `out_dir` (created if missing).

    Returns the written paths by table name. The same history gives the same bytes.
    """
    if fmt not in FORMATS:
        raise SimulationError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SimulationError(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulationError(f"cannot create output directory {out}: {exc.strerror or exc}") from exc
    from features.io import write_table

    paths: dict[str, Path] = {}
    for name, frame in zip(TABLE_NAMES, (history.leads, history.events, history.truth), strict=True):
        path = out / f"{name}.{fmt}"
        try:
            write_table(frame, path)
            # A copy of the same table in another format (from an earlier run) would make the folder ambiguous
            # for the loader, which refuses a folder holding both leads.csv and leads.parquet.
            for stale in _other_format_copies(out, name, path):
                log.info("removing %s, replaced by %s", stale, path.name)
                stale.unlink()
        except OSError as exc:
            raise SimulationError(f"cannot write {path}: {exc.strerror or exc}") from exc
        paths[name] = path
    return paths


def _other_format_copies(out: Path, name: str, keep: Path) -> list[Path]:
    return [p for p in (out / f"{name}{s}" for s in _SUFFIXES) if p != keep and p.is_file()]


def read_truth(directory: str | Path) -> pd.DataFrame:
    """Read the evaluation-only truth table (`truth.parquet` or `truth.csv`) written by `write_history`.

    Only evaluation may call this; training and serving must never see the truth.
    """
    from features.io import DataLoadError, read_table

    folder = Path(directory)
    if not folder.is_dir():
        raise SimulationError(f"{folder}: not a directory" if folder.exists() else f"{folder}: directory not found")
    found = [p for p in (folder / f"truth{s}" for s in _SUFFIXES) if p.is_file()]
    if not found:
        raise SimulationError(f"{folder}: no truth table (expected truth.parquet or truth.csv)")
    if len(found) > 1:
        raise SimulationError(f"{folder}: both {' and '.join(p.name for p in found)} exist; keep one")
    path = found[0]
    try:
        truth = read_table(path, text_columns=(c.LEAD_ID,))
    except DataLoadError as exc:
        raise SimulationError(str(exc)) from exc
    missing = [col for col in TRUTH_COLUMNS if col not in truth.columns]
    if missing:
        raise SimulationError(f"{path}: missing column(s) {', '.join(missing)}")
    truth = truth.loc[:, list(TRUTH_COLUMNS)]
    ids = truth[c.LEAD_ID]
    # Rows are reported 1-based, counting data rows only, as features.io does.
    bad_id = ids.isna() | ids.duplicated()
    if bad_id.any():
        row = int(np.flatnonzero(bad_id.to_numpy())[0])
        problem = "missing" if pd.isna(ids.iloc[row]) else f"duplicate ({ids.iloc[row]!r})"
        raise SimulationError(f"{path}: row {row + 1}, column {c.LEAD_ID}: {problem}")
    truth[c.LEAD_ID] = ids.astype("str")
    for col in TRUTH_COLUMNS[1:]:
        values = pd.to_numeric(truth[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SimulationError(f"{path}: row {row + 1}, column {col}: not a number ({truth[col].iloc[row]!r})")
        truth[col] = values.astype(float)
    return truth
