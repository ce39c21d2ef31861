"""The MLflow pyfunc face of the lead scorer: raw leads (with their events) in, probabilities out.

Input is one DataFrame, one row a lead, in the same shape an HTTP request brings: `lead_id`, `source`,
`created_at`, optional `as_of` (default: now) or `decided_at`, attribute columns, and `events`, a list of
`{"type", "ts", "asset"}` records per lead. Output: `lead_id`, `p_close`, `expected_hours`,
`expected_days_to_close`. Probabilities, never labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features import contract as c
from features.contract import LeadBatch

SCORER_ARTIFACT = "scorer"
SCHEMA_ARTIFACT = "feature_schema"


def _to_utc_naive(values: Any) -> pd.Series:
    ts = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601")
    return ts.dt.tz_localize(None).astype(c.TIMESTAMP_DTYPE)


def batch_from_frame(frame: pd.DataFrame, now: pd.Timestamp | None = None) -> LeadBatch:
    """Turn request-shaped rows (an `events` list per lead) into the canonical `LeadBatch`."""
    leads = frame.drop(columns=["events"], errors="ignore").copy()
    leads[c.LEAD_ID] = leads[c.LEAD_ID].astype(str)
    for col in (c.CREATED_AT, c.DECIDED_AT, "as_of"):
        if col in leads.columns:
            leads[col] = _to_utc_naive(leads[col])
    if "as_of" not in leads.columns and c.DECIDED_AT not in leads.columns:
        when = now if now is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)
        leads["as_of"] = pd.Series(np.full(len(leads), when), dtype=c.TIMESTAMP_DTYPE, index=leads.index)
    elif "as_of" in leads.columns and leads["as_of"].isna().any():
        when = now if now is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)
        leads["as_of"] = leads["as_of"].fillna(when)
    if c.CREATED_AT not in leads.columns:
        leads[c.CREATED_AT] = pd.Series(pd.NaT, index=leads.index, dtype=c.TIMESTAMP_DTYPE)
    if c.DECIDED_AT not in leads.columns:
        leads[c.DECIDED_AT] = leads["as_of"]
    if c.SOURCE not in leads.columns:
        leads[c.SOURCE] = "unknown"
    leads[c.SOURCE] = leads[c.SOURCE].astype(str)

    if "events" in frame.columns:
        lists = frame["events"].tolist()
        lengths = np.array([len(e) if isinstance(e, list | tuple | np.ndarray) else 0 for e in lists])
        flat = [ev for e in lists if isinstance(e, list | tuple | np.ndarray) for ev in e]
    else:
        lengths = np.zeros(len(frame), dtype=int)
        flat = []
    if flat:
        ev = pd.DataFrame.from_records(flat)
        events = pd.DataFrame(
            {
                c.EVENT_LEAD_ID: np.repeat(leads[c.LEAD_ID].to_numpy(), lengths),
                c.TS: _to_utc_naive(ev["ts"]).to_numpy(),
                c.EVENT_TYPE: ev["type"].astype(str).to_numpy(),
                c.ASSET: ev["asset"].to_numpy() if "asset" in ev else None,
            }
        )
        events = events.astype({c.EVENT_LEAD_ID: "str", c.EVENT_TYPE: "str", c.ASSET: "str"})
    else:
        events = c.empty_events()
    return LeadBatch(leads.reset_index(drop=True), events)


class LeadScorerModel(PythonModel):
    """Loads the pickled `LeadScorer` artifact and scores request-shaped rows."""

    def load_context(self, context: Any) -> None:
        import joblib

        self.scorer = joblib.load(context.artifacts[SCORER_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.predict(batch_from_frame(model_input))
