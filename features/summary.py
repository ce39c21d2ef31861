"""A per-source summary of a CRM history: volume, outcomes, effort, speed and engagement.

`leadrank simulate` and `leadrank quickstart` print it so a person can see at a glance what the history holds;
it works on any canonical `leads`/`events` pair, simulated or loaded (optional columns may be absent).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import contract as c

ALL: Final = "all"
SUMMARY_COLUMNS: Final = (
    "leads",
    "share",
    "closed",
    "won",
    "close_rate",
    "mean_sales_hours",
    "median_days_to_close",
    "events_per_lead",
    "open",
)


class SummaryError(ValueError):
    """The tables lack what a summary needs (a leads table with lead_id and source)."""


def _as_large_string(s: pd.Series) -> pa.Array:
    arr = pa.array(s.astype("str"))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr


def events_per_lead(lead_ids: pd.Series, event_lead_ids: pd.Series) -> np.ndarray:
    """How many events each lead has (aligned with `lead_ids`); events of unknown leads are ignored.

    Events tables are usually grouped by lead, so run-length encoding first shrinks tens of millions of ids to
    about one run a lead before any hashing; an ungrouped table still gives the right counts, only slower.
    """
    n = len(lead_ids)
    if n == 0 or len(event_lead_ids) == 0:
        return np.zeros(n, dtype=np.int64)
    runs = pc.run_end_encode(_as_large_string(event_lead_ids))
    run_ends = np.asarray(runs.run_ends, dtype=np.int64)
    lengths = np.diff(run_ends, prepend=0)
    pos = pc.index_in(runs.values, value_set=_as_large_string(lead_ids))
    pos_np = np.asarray(pos.fill_null(-1), dtype=np.int64)
    known = pos_np >= 0
    return np.bincount(pos_np[known], weights=lengths[known], minlength=n).astype(np.int64)


def summarize_history(leads: pd.DataFrame, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source and overall (row `all`): leads, share of leads, closed (won or lost), won, close rate
    (won / closed), mean sales hours of closed leads, median days from decision to close of won leads, events
    per lead and open leads (no outcome yet). Rows are sources in descending lead count, then `all`.
    """
    missing = [col for col in (c.LEAD_ID, c.SOURCE) if col not in leads.columns]
    if missing:
        raise SummaryError(f"leads table lacks column(s) {', '.join(missing)} needed for the summary")
    n = len(leads)
    source = leads[c.SOURCE].astype("str").fillna("(missing)").to_numpy()
    outcome = leads[c.OUTCOME].astype("str") if c.OUTCOME in leads.columns else pd.Series(np.nan, index=leads.index)
    won = (outcome == c.WON).to_numpy()
    closed = outcome.isin(c.OUTCOMES).to_numpy()
    hours = (
        pd.to_numeric(leads[c.SALES_HOURS], errors="coerce").to_numpy(dtype=float)
        if c.SALES_HOURS in leads.columns
        else np.full(n, np.nan)
    )
    if c.CLOSED_AT in leads.columns and c.DECIDED_AT in leads.columns:
        delta = pd.to_datetime(leads[c.CLOSED_AT]) - pd.to_datetime(leads[c.DECIDED_AT])
        days = (delta.dt.total_seconds() / 86_400.0).to_numpy(dtype=float)
    else:
        days = np.full(n, np.nan)
    n_events = (
        events_per_lead(leads[c.LEAD_ID], events[c.EVENT_LEAD_ID])
        if events is not None and c.EVENT_LEAD_ID in events.columns
        else np.zeros(n, dtype=np.int64)
    )

    frame = pd.DataFrame(
        {
            "source": source,
            "won": won,
            "closed": closed,
            "open": ~closed,
            "hours_closed": np.where(closed, hours, np.nan),
            "days_won": np.where(won, days, np.nan),
            "events": n_events,
        }
    )
    by = frame.groupby("source", sort=False)
    per_source = pd.DataFrame(
        {
            "leads": by.size(),
            "closed": by["closed"].sum(),
            "won": by["won"].sum(),
            "mean_sales_hours": by["hours_closed"].mean(),
            "median_days_to_close": by["days_won"].median(),
            "events": by["events"].sum(),
            "open": by["open"].sum(),
        }
    ).sort_values("leads", ascending=False, kind="stable")
    overall = pd.DataFrame(
        {
            "leads": [n],
            "closed": [int(closed.sum())],
            "won": [int(won.sum())],
            "mean_sales_hours": [frame["hours_closed"].mean()],
            "median_days_to_close": [frame["days_won"].median()],
            "events": [int(n_events.sum())],
            "open": [int((~closed).sum())],
        },
        index=[ALL],
    )
    out = pd.concat([per_source, overall])
    out.index.name = "source"
    for col in ("leads", "closed", "won", "events", "open"):
        out[col] = out[col].astype(np.int64)
    total = max(n, 1)
    out["share"] = out["leads"] / total
    out["close_rate"] = out["won"] / out["closed"].where(out["closed"] > 0)
    out["events_per_lead"] = out["events"] / out["leads"].where(out["leads"] > 0)
    return out.loc[:, list(SUMMARY_COLUMNS)]
