"""Request items for `/score` and `/rank` built from canonical leads and events tables.

What a client holding CRM exports in the canonical shape sends, one item per lead; the benchmark and the tests
build their requests the same way.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features import contract as c


def request_items(
    leads: pd.DataFrame, events: pd.DataFrame, *, before_as_of: bool = True, deal_value: bool = False
) -> list[dict[str, Any]]:
    """One item per lead as it looked at its decision time (`as_of` = `decided_at`).

    `before_as_of` keeps only the events before that time (the service would ignore and report the others);
    `deal_value` adds each lead's deal value (for `/rank` by value).
    """
    as_of = leads.set_index(c.LEAD_ID)[c.DECIDED_AT]
    ev = events[events[c.EVENT_LEAD_ID].isin(as_of.index)]
    if before_as_of:
        ev = ev[ev[c.TS].to_numpy() < as_of.reindex(ev[c.EVENT_LEAD_ID]).to_numpy()]
    grouped = {
        lead_id: [
            {"type": str(t), "ts": ts.isoformat() + "Z", **({"asset": str(a)} if pd.notna(a) else {})}
            for t, ts, a in zip(g[c.EVENT_TYPE], g[c.TS], g[c.ASSET], strict=True)
        ]
        for lead_id, g in ev.groupby(c.EVENT_LEAD_ID, sort=False)
    }
    rows: list[Any] = list(leads.itertuples(index=False))
    return [
        {
            "lead_id": row.lead_id,
            "source": row.source,
            "created_at": row.created_at.isoformat() + "Z",
            "as_of": row.decided_at.isoformat() + "Z",
            "attributes": {
                "industry": row.industry,
                "company_size": int(row.company_size),
                "country": row.country,
                "job_level": row.job_level,
            },
            "events": grouped.get(row.lead_id, []),
            **({"deal_value": float(row.deal_value)} if deal_value else {}),
        }
        for row in rows
    ]
