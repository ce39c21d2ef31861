"""Which of the model's columns describe one fact about a lead (a *group*), and whether that fact is engagement
the lead showed.

Several features describe one fact: demo requests counted over 7, 30, 90 days and all time, plus the "asked for a
demo" flag. `LeadModel.predict(explain=True)` measures the effect of each group on the probability, and the
reasons (serving.reasons) put each group in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from features.engagement import FLAG_EVENT_TYPES
from features.schema import CATEGORICAL, STAGES, FeatureSchema

RECENCY: Final = ("days_since_last_event", "days_since_last_decision_event")
# Kinds whose columns are counts of what the lead did (0 when it did nothing): their effect is measured against
# the same lead without that engagement.
ENGAGEMENT_KINDS: Final = frozenset({"event", "stage", "assets", "flag"})


@dataclass(frozen=True)
class FeatureGroup:
    """Features that describe one fact about a lead."""

    key: str
    kind: str  # event, stage, recency, first_touch, age, assets, flag, categorical, numeric, other
    columns: tuple[int, ...]  # positions in the model's columns
    subject: str = ""  # event type, stage name, attribute column or feature name

    @property
    def engagement(self) -> bool:
        return self.kind in ENGAGEMENT_KINDS


def feature_groups(columns: Sequence[str], schema: FeatureSchema) -> list[FeatureGroup]:
    """Group the model's columns by the fact they describe; a column that fits nowhere is its own group."""
    position = {name: i for i, name in enumerate(columns)}
    suffixes = [f"{w}d" for w in schema.windows] + ["all"]
    taken: set[int] = set()
    groups: list[FeatureGroup] = []

    def add(key: str, kind: str, names: Sequence[str], subject: str = "") -> None:
        cols = tuple(position[name] for name in names if name in position and position[name] not in taken)
        if cols:
            taken.update(cols)
            groups.append(FeatureGroup(key, kind, cols, subject or key))

    # The schema lists windowed counts per event type in stage-map order, one column per window and "all".
    names = list(schema.feature_names)
    per_type = len(suffixes)
    for t, event_type in enumerate(schema.stage_map):
        block = names[t * per_type : (t + 1) * per_type]
        if len(block) == per_type and all(
            name.startswith("n_") and name.endswith(f"_{s}") for name, s in zip(block, suffixes, strict=True)
        ):
            flags = [flag for flag, flagged in FLAG_EVENT_TYPES.items() if flagged == event_type]
            add(event_type, "event", [*block, *flags], event_type)
    for stage in STAGES:
        add(f"stage_{stage}", "stage", [f"n_stage_{stage}_{s}" for s in suffixes], stage)
    for name in RECENCY:
        add(name, "recency", [name])
    add("days_since_first_event", "first_touch", ["days_since_first_event"])
    add("lead_age_days", "age", ["lead_age_days"])
    add("n_distinct_assets", "assets", ["n_distinct_assets"])
    for flag in FLAG_EVENT_TYPES:
        add(flag, "flag", [flag])
    for spec in schema.attributes:
        kind = "categorical" if spec.kind == CATEGORICAL else "numeric"
        add(spec.column, kind, [spec.feature], spec.column)
    for i, name in enumerate(columns):
        if i not in taken:
            add(name, "other", [name])
    return groups
