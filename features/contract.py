"""The canonical data contract: column names and types of the `leads` and `events` tables.

Everything downstream (features, training, handoff, serving) speaks this shape. A foreign CRM export is mapped onto
it by a dataset spec (see `features.spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pandas as pd

# leads: one row a lead
LEAD_ID: Final = "lead_id"
CREATED_AT: Final = "created_at"
DECIDED_AT: Final = "decided_at"
SOURCE: Final = "source"
OUTCOME: Final = "outcome"
CLOSED_AT: Final = "closed_at"
SALES_HOURS: Final = "sales_hours"
DEAL_VALUE: Final = "deal_value"
# The time a lead's features are computed at when scoring (serving: "now" or the request's as_of); training
# uses DECIDED_AT.
AS_OF: Final = "as_of"
FIRMOGRAPHIC: Final = ("industry", "company_size", "country", "job_level")

# The contract's own lead columns: never lead attributes (identifiers, times, and outcomes, which would leak);
# an attribute of the same name would silently take the column's role.
RESERVED_COLUMNS: Final = frozenset(
    {LEAD_ID, CREATED_AT, DECIDED_AT, SOURCE, OUTCOME, CLOSED_AT, SALES_HOURS, DEAL_VALUE, AS_OF}
)
REQUIRED_LEAD_COLUMNS: Final = (LEAD_ID, CREATED_AT, DECIDED_AT, SOURCE)
OPTIONAL_LEAD_COLUMNS: Final = (OUTCOME, CLOSED_AT, SALES_HOURS, DEAL_VALUE)
LEAD_TIME_COLUMNS: Final = (CREATED_AT, DECIDED_AT, CLOSED_AT)

# A lead that costs (almost) no selling time would get an infinite closes-per-hour density and jump every
# queue; nobody sells in zero time, so no lead is charged less than this many hours (model and handoff alike).
MIN_HOURS: Final = 0.1

WON: Final = "won"
LOST: Final = "lost"
OUTCOMES: Final = (WON, LOST)

# events: one row a touch
EVENT_LEAD_ID: Final = "lead_id"
TS: Final = "ts"
EVENT_TYPE: Final = "event_type"
ASSET: Final = "asset"
REQUIRED_EVENT_COLUMNS: Final = (EVENT_LEAD_ID, TS, EVENT_TYPE)

# All timestamps are timezone-naive UTC at microsecond resolution; text columns use pandas' default `str` dtype.
TIMESTAMP_DTYPE: Final = "datetime64[us]"


@dataclass(frozen=True)
class LeadBatch:
    """Leads and their engagement events: the input of every feature builder and of the served model.

    `leads` has one row a lead (canonical columns, `lead_id` unique); `events` has one row a touch and may be
    empty. The two travel together so that one scikit-learn `Pipeline` can take them as its `X`.
    """

    leads: pd.DataFrame
    events: pd.DataFrame

    def __len__(self) -> int:
        return len(self.leads)

    @classmethod
    def of_leads(cls, leads: pd.DataFrame, events: pd.DataFrame) -> LeadBatch:
        """`leads` with only their own rows of `events` (the events of other leads left out, not reported)."""
        if EVENT_LEAD_ID not in events.columns:
            return cls(leads, events)
        mine = events[EVENT_LEAD_ID].isin(leads[LEAD_ID]).to_numpy()
        return cls(leads, events if mine.all() else events.loc[mine].reset_index(drop=True))


def empty_events() -> pd.DataFrame:
    """An events table with the canonical columns and dtypes and no rows."""
    return pd.DataFrame(
        {
            EVENT_LEAD_ID: pd.Series([], dtype="str"),
            TS: pd.Series([], dtype=TIMESTAMP_DTYPE),
            EVENT_TYPE: pd.Series([], dtype="str"),
            ASSET: pd.Series([], dtype="str"),
        }
    )
