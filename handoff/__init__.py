"""Capacity-aware handoff: which scored leads go to sales, to which rep, and what "qualified" means now.

Works on a plain scored-leads DataFrame (`lead_id`, `p_close`, `expected_hours`, optional `deal_value`,
`expected_days_to_close` and attribute columns); it does not import `features`, `training` or `serving`.
"""

from handoff.capacity import (
    CapacitySpec,
    Rep,
    capacity_from_options,
    load_capacity_toml,
    parse_capacity,
)
from handoff.errors import CapacitySpecError, HandoffError, ScoredLeadsError
from handoff.knapsack import knapsack_select
from handoff.planning import capacity_curve, plot_capacity_curve
from handoff.policy import (
    MARKETING_QUALIFIED,
    NURTURE,
    SALES_READY,
    STAGES,
    HandoffResult,
    HandoffSummary,
    RepSummary,
    hand_off,
)
from handoff.scored import MIN_HOURS, within_horizon

__all__ = [
    "MARKETING_QUALIFIED",
    "MIN_HOURS",
    "NURTURE",
    "SALES_READY",
    "STAGES",
    "CapacitySpec",
    "CapacitySpecError",
    "HandoffError",
    "HandoffResult",
    "HandoffSummary",
    "Rep",
    "RepSummary",
    "ScoredLeadsError",
    "capacity_curve",
    "capacity_from_options",
    "hand_off",
    "knapsack_select",
    "load_capacity_toml",
    "parse_capacity",
    "plot_capacity_curve",
    "within_horizon",
]
