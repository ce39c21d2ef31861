"""Point-in-time engagement features: what was known about each lead at its reference time, and nothing later.

`EngagementFeatures` turns a `LeadBatch` (leads + engagement events) into one row of features per lead. The
reference time of a lead is its `as_of` (serving: "now" or the request's as_of) when the leads carry that
column, else its `decided_at` (training). Events at or after the reference time never contribute; that is what
keeps the post-decision events (`meeting`, `contract_download`) from leaking the outcome into training.

One code path serves a 10-million-event training batch and a single served lead: events are reduced to integer
codes (lead position, event-type slot, window bin) and aggregated with `np.bincount` / `np.minimum.at`, so the
cost is a few array passes regardless of the number of leads, with no pandas groupby overhead on tiny inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.internals import create_dataframe_from_blocks
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from features.contract import (
    AS_OF,
    ASSET,
    CREATED_AT,
    DEAL_VALUE,
    DECIDED_AT,
    EVENT_LEAD_ID,
    EVENT_TYPE,
    LEAD_ID,
    RESERVED_COLUMNS,
    SOURCE,
    TS,
)
from features.parsing import NAT_US
from features.schema import (
    CATEGORICAL,
    CATEGORY_DTYPE,
    FLOAT_DTYPE,
    NUMERIC,
    STAGES,
    AttributeKind,
    AttributeSpec,
    FeatureSchema,
)

logger = logging.getLogger(__name__)


DEFAULT_STAGE_MAP: Final[Mapping[str, str]] = MappingProxyType(
    {
        "page_visit": "early",
        "email_click": "early",
        "whitepaper_download": "early",
        "case_study_read": "middle",
        "webinar_attended": "middle",
        "tech_doc_download": "decision",
        "pricing_view": "decision",
        "demo_request": "decision",
        "trial_request": "decision",
        # Post-decision touches: they only ever happen after decided_at, so in training they are cut off by
        # the reference time; at serving time ("now") they are genuine decision-stage signals.
        "meeting": "decision",
        "contract_download": "decision",
    }
)
DEFAULT_WINDOWS: Final = (7, 30, 90)
VELOCITY_DAYS: Final = 30
# Flag features: output name -> event type whose presence (any time before the reference time) sets the flag.
FLAG_EVENT_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "demo_requested": "demo_request",
        "trial_requested": "trial_request",
        "webinar_attended": "webinar_attended",
    }
)
DEFAULT_ATTRIBUTE_KINDS: Final[Mapping[str, AttributeKind]] = MappingProxyType(
    {
        "industry": "categorical",
        "country": "categorical",
        "job_level": "categorical",
        "company_size": "numeric",
    }
)
# Of these, an explicit attribute list may still name deal_value (a quote can be known before the decision).
_FORBIDDEN_ATTRIBUTES: Final = RESERVED_COLUMNS - {DEAL_VALUE}
# An inferred text column with this many distinct values, most of them unique, is an identifier (e-mail).
_ID_LIKE_MIN_DISTINCT: Final = 1000
# LightGBM refuses feature names with JSON punctuation and renames those with spaces (so the names it stores would
# no longer match ours); attribute names are cleaned of both.
_NAME_UNSAFE: Final = str.maketrans({c: "_" for c in "\"',:[]{}\n\t\r "})

_US_PER_DAY: Final = 86_400_000_000
_INT64_MAX: Final = np.iinfo(np.int64).max
# Up to this many (lead, asset) cells, distinct assets are counted with a boolean grid instead of a sort.
_ASSET_GRID_MAX: Final = 1 << 26
# Below this many events, looking for runs of equal lead ids costs more than it saves; runs shorter than
# _MIN_RUN_LENGTH on average (judged on the first _RUN_PROBE values first) are not worth it either.
_RUN_DETECTION_MIN: Final = 4096
# Up to this many leads, categorical attributes are looked up in a dict: Arrow's index_in builds a hash table of
# the categories on every call, which dominates when serving a single lead.
_SMALL_BATCH: Final = 16
# Up to this many text values, factorizing is a dict lookup per value: Arrow's dictionary_encode costs 12-30 us a
# call however short the column, the dict 3-11 us up to 64 values.
_SMALL_FACTORIZE: Final = 64
_RUN_PROBE: Final = 65_536
_MIN_RUN_LENGTH: Final = 4


class FeatureInputError(ValueError):
    """Leads or events cannot be turned into features; the message names the table, row or column."""


@dataclass
class InputReport:
    """What in a batch was ignored or not usable as is. Serving turns it into warnings; training logs it."""

    n_leads: int
    n_events: int
    unknown_event_types: dict[str, int] = field(default_factory=dict)
    unseen_categories: dict[str, dict[str, int]] = field(default_factory=dict)
    events_at_or_after_as_of: int = 0
    events_without_as_of: int = 0
    events_unknown_lead: int = 0
    events_missing_ts: int = 0
    missing_columns: list[str] = field(default_factory=list)
    invalid_numeric: dict[str, int] = field(default_factory=dict)

    @classmethod
    def combined(cls, reports: Sequence[InputReport]) -> InputReport:
        """One report for the union of the batches of `reports` (the partitions of one data set)."""
        total = cls(n_leads=0, n_events=0)
        for report in reports:
            for f in fields(cls):
                mine, theirs = getattr(total, f.name), getattr(report, f.name)
                if isinstance(mine, int):
                    setattr(total, f.name, mine + theirs)
                elif isinstance(mine, list):
                    mine.extend(x for x in theirs if x not in mine)
                elif f.name == "unseen_categories":
                    for column, counts in theirs.items():
                        kept = mine.setdefault(column, {})
                        for value, n in counts.items():
                            kept[value] = kept.get(value, 0) + n
                else:
                    for key, n in theirs.items():
                        mine[key] = mine.get(key, 0) + n
        return total

    @property
    def has_issues(self) -> bool:
        return bool(self.messages())

    def messages(self) -> list[str]:
        """One human-readable line per issue, e.g. for a serving response's `warnings`."""
        out = []
        if self.unknown_event_types:
            listed = ", ".join(f"{t!r} ({n})" for t, n in self.unknown_event_types.items())
            out.append(f"unknown event types counted in stage 'other': {listed}")
        for column, values in self.unseen_categories.items():
            listed = ", ".join(f"{v!r} ({n})" for v, n in values.items())
            out.append(f"column '{column}': values not seen in training, treated as missing: {listed}")
        if self.events_at_or_after_as_of:
            out.append(f"{self.events_at_or_after_as_of} events at or after the lead's as_of were ignored")
        if self.events_without_as_of:
            out.append(f"{self.events_without_as_of} events of leads without a reference time were ignored")
        if self.events_unknown_lead:
            out.append(f"{self.events_unknown_lead} events of lead ids not in the leads table were ignored")
        if self.events_missing_ts:
            out.append(f"{self.events_missing_ts} events without a timestamp were ignored")
        if self.missing_columns:
            out.append(f"columns missing, treated as missing values: {', '.join(self.missing_columns)}")
        for column, n in self.invalid_numeric.items():
            out.append(f"column '{column}': {n} values are not numbers")
        return out


@dataclass
class _Leads:
    ids: pd.Index
    ids_arrow: pa.Array
    as_of: np.ndarray  # int64 microseconds, NAT_US when unknown
    created: np.ndarray | None  # int64 microseconds, NAT_US when unknown; None when the column is absent


@dataclass
class _Events:
    lead: np.ndarray  # position of the event's lead in the leads table, -1 when not there
    ts: np.ndarray  # int64 microseconds, NAT_US when missing
    type_codes: np.ndarray  # integer codes into type_uniques, -1 when missing
    type_uniques: list[str]
    asset_codes: np.ndarray | None  # integer codes, -1 when missing; None when assets were not asked for
    n_assets: int


@dataclass(frozen=True)
class LeadColumns:
    """Leads and their events as plain arrays: what `EngagementFeatures.transform_columns` reads.

    `transform` builds it from a `LeadBatch`; the serving path builds it straight from a request, because for a
    single lead, building DataFrames and reading them back costs several times the feature arithmetic. Both
    then run the same `transform_columns`, so they give the same features.
    """

    as_of_us: np.ndarray  # int64 microseconds (UTC) per lead, NAT_US when unknown
    created_us: np.ndarray | None  # int64 microseconds per lead, NAT_US when unknown; None: no such column
    # lead column -> one value per lead: float64 array for a numeric attribute, Arrow text array for a
    # categorical one (numbers spelled as pandas spells them, "3"); an absent column is missing for every lead
    attributes: Mapping[str, Any]
    event_lead: np.ndarray  # int64 position of each event's lead, -1 when it is not among the leads
    event_ts_us: np.ndarray  # int64 microseconds per event, NAT_US when missing
    event_types: pa.Array  # per event, null when missing
    event_assets: pa.Array | None  # per event, null when missing; None: no such column


# auto_wrap_output_keys=None: the output is already a DataFrame; sklearn's set_output wrapper would only add
# per-call overhead on the single-lead serving path.
class EngagementFeatures(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Point-in-time engagement, source and attribute features, one row per lead (index `lead_id`).

    Parameters
    ----------
    stage_map:
        Event type -> funnel stage (`early`, `middle`, `decision` or `other`). None: `DEFAULT_STAGE_MAP` (the
        simulator's types). Each mapped type gets windowed count columns; unmapped types count in stage
        `other`.
    windows:
        Look-back windows in days for the windowed counts; an all-time count is always added.
    categorical, numeric:
        Lead attribute columns used as categorical / numeric features. None: inferred in `fit` from the leads'
        columns other than the contract's own (firmographics `industry`, `country`, `job_level` categorical,
        `company_size` numeric; other columns by dtype). `source` is always a categorical feature.
    """

    def __init__(
        self,
        stage_map: Mapping[str, str] | None = None,
        windows: Sequence[int] = DEFAULT_WINDOWS,
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
    ) -> None:
        self.stage_map = stage_map
        self.windows = windows
        self.categorical = categorical
        self.numeric = numeric

    # --- estimator API -------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> Self:
        """Learn the output columns, the attribute columns and the categories of every categorical column."""
        leads = _leads_frame(X)
        stage_map = _validated_stage_map(self.stage_map)
        windows = _validated_windows(self.windows)
        if SOURCE not in leads.columns:
            raise FeatureInputError(f"leads: required column '{SOURCE}' is missing")
        attributes = _attribute_specs(leads, self.categorical, self.numeric)

        engagement = _engagement_names(stage_map, windows)
        taken: set[str] = set()
        for name in engagement:
            if name in taken:
                raise FeatureInputError(
                    f"stage_map: an event type gives the feature name '{name}', which another feature already "
                    "has; rename the event type"
                )
            taken.add(name)
        for spec in attributes:
            if spec.feature in taken:
                raise FeatureInputError(
                    f"leads column '{spec.column}' would become feature '{spec.feature}', which already "
                    "exists; rename the column"
                )
            taken.add(spec.feature)

        numeric_attrs = [a for a in attributes if a.kind == NUMERIC]
        categorical_attrs = [a for a in attributes if a.kind == CATEGORICAL]
        for spec in numeric_attrs:
            # Fail at fit time, with the row, rather than on the first served request.
            _numeric_values(leads, spec.column, strict=True)
        categories = {spec.feature: _categories(leads[spec.column]) for spec in categorical_attrs}
        names = engagement + [a.feature for a in numeric_attrs] + [a.feature for a in categorical_attrs]
        dtypes = {n: FLOAT_DTYPE for n in names} | {a.feature: CATEGORY_DTYPE for a in categorical_attrs}
        schema = FeatureSchema(
            feature_names=tuple(names),
            dtypes=dtypes,
            categories=categories,
            attributes=tuple(numeric_attrs + categorical_attrs),
            stage_map=dict(stage_map),
            windows=windows,
        )
        self._set_fitted(schema)
        logger.debug("EngagementFeatures fitted: %d features, %d attributes", len(names), len(attributes))
        return self

    @classmethod
    def merged(cls, fitted: Sequence[EngagementFeatures]) -> EngagementFeatures:
        """One transformer from several fitted on parts of the same leads (partitions of a data set), as if
        fitted on all of them: the same columns, each categorical column's categories the union of the parts'.
        The parts must agree on everything else; fit them with explicit `categorical` / `numeric` lists so that
        no part infers its attribute columns differently."""
        if not fitted:
            raise FeatureInputError("no fitted parts to merge")
        first = fitted[0].feature_schema_
        for k, part in enumerate(fitted[1:], start=1):
            schema = part.feature_schema_
            if schema.feature_names != first.feature_names or schema.attributes != first.attributes:
                raise FeatureInputError(
                    f"part {k} has other feature columns than part 0 ({list(schema.feature_names)} vs "
                    f"{list(first.feature_names)}): its leads table has other attribute columns or types"
                )
        categories = {
            name: tuple(sorted(set().union(*(part.feature_schema_.categories[name] for part in fitted))))
            for name in first.categories
        }
        return cls.from_schema(replace(first, categories=categories))

    @classmethod
    def from_schema(cls, schema: FeatureSchema) -> EngagementFeatures:
        """The fitted transformer a schema describes (the schema is all that `fit` learns): how a stored model's
        features are restored without unpickling anything."""
        categorical = [a.column for a in schema.attributes if a.kind == CATEGORICAL]
        numeric = [a.column for a in schema.attributes if a.kind == NUMERIC]
        features = cls(
            stage_map=dict(schema.stage_map), windows=schema.windows, categorical=categorical, numeric=numeric
        )
        expected = _engagement_names(_validated_stage_map(features.stage_map), _validated_windows(features.windows))
        if list(schema.feature_names[: len(expected)]) != expected:
            raise FeatureInputError("feature schema: its engagement features differ from what its stage map gives")
        features._set_fitted(schema)
        return features

    def _set_fitted(self, schema: FeatureSchema) -> None:
        names = list(schema.feature_names)
        categories = schema.categories
        self.feature_schema_ = schema
        self.feature_names_out_ = names
        self.n_features_out_ = len(names)
        self.columns_ = pd.Index(names, dtype="str")
        self.category_dtypes_ = {f: schema.categorical_dtype(f) for f in categories}
        self.category_values_ = {f: pa.array(list(c), type=pa.large_string()) for f, c in categories.items()}
        self.category_index_ = {f: {v: i for i, v in enumerate(c)} for f, c in categories.items()}

    def transform(self, X: Any) -> pd.DataFrame:
        """Features of every lead of `X.leads`, in order; index `lead_id`, columns `feature_names_out_`."""
        ids, columns = self.columns_of(X)
        return self.to_frame(ids, self.transform_columns(columns))

    def to_frame(self, ids: pd.Index, values: np.ndarray) -> pd.DataFrame:
        """`transform_columns`' output as the feature frame (index `ids`, categorical columns as categories)."""
        schema = self.feature_schema_
        n_float = len(schema.feature_names) - sum(1 for a in schema.attributes if a.kind == CATEGORICAL)
        blocks: list[tuple[Any, np.ndarray]] = [(values[:n_float], np.arange(n_float))]
        for k, feature in enumerate(schema.feature_names[n_float:], start=n_float):
            codes = values[k].astype(np.int64)
            # codes are only ever positions inside the categories, or -1 (missing / unseen)
            categorical = pd.Categorical.from_codes(codes, dtype=self.category_dtypes_[feature], validate=False)
            blocks.append((categorical, np.array([k])))
        # One frame from ready-made blocks: the plain constructors cost more than all the feature arithmetic
        # when transforming a single lead.
        return create_dataframe_from_blocks(blocks, index=ids, columns=self.columns_)

    def columns_of(self, X: Any) -> tuple[pd.Index, LeadColumns]:
        """The lead ids (index `lead_id`) and the `LeadColumns` of a `LeadBatch`, checked on the way."""
        self._check_fitted()
        leads_df = {str(name): values for name, values in _leads_frame(X).items()}
        leads = _prepare_leads(leads_df)
        events = {str(name): values for name, values in X.events.items()}
        if len(X.events):
            for column in (EVENT_LEAD_ID, TS, EVENT_TYPE):
                if column not in events:
                    raise FeatureInputError(f"events: required column '{column}' is missing")
            event_lead = _lead_positions(events[EVENT_LEAD_ID], leads)
            event_ts = _timestamps_us(events[TS], "events", TS, events)
            event_types = _to_arrow(events[EVENT_TYPE])
            event_assets = _to_arrow(events[ASSET]) if ASSET in events else None
        else:
            event_lead = event_ts = np.empty(0, dtype=np.int64)
            event_types, event_assets = pa.array([], type=pa.large_string()), None
        attributes: dict[str, Any] = {}
        for spec in self.feature_schema_.attributes:
            if spec.column not in leads_df:
                continue
            if spec.kind == NUMERIC:
                attributes[spec.column] = _numeric_values(leads_df, spec.column, strict=True)
            else:
                attributes[spec.column] = _text_arrow(leads_df[spec.column])
        columns = LeadColumns(
            as_of_us=leads.as_of,
            created_us=leads.created,
            attributes=attributes,
            event_lead=event_lead,
            event_ts_us=event_ts,
            event_types=event_types,
            event_assets=event_assets,
        )
        return leads.ids, columns

    def transform_columns(self, columns: LeadColumns) -> np.ndarray:
        """The features of `columns`' leads as one float64 array, features x leads in `feature_names_out_`
        order; the row of a categorical feature holds its category code (-1: missing or unseen)."""
        self._check_fitted()
        schema = self.feature_schema_
        n = len(columns.as_of_us)
        events = _events_of(columns, with_assets=True)
        numeric_attrs = [a for a in schema.attributes if a.kind == NUMERIC]
        categorical_attrs = [a for a in schema.attributes if a.kind == CATEGORICAL]
        n_engagement = len(schema.feature_names) - len(schema.attributes)
        # Feature-major (features x leads): the block layout pandas keeps internally, so no transpose later.
        values = np.empty((len(schema.feature_names), n), dtype=np.float64)
        _engagement_block(
            columns.as_of_us, columns.created_us, events, schema.stage_map, schema.windows, values[:n_engagement]
        )
        for j, spec in enumerate(numeric_attrs, start=n_engagement):
            given = columns.attributes.get(spec.column)
            values[j] = np.nan if given is None else given
        index = self.category_index_
        for k, spec in enumerate(categorical_attrs, start=n_engagement + len(numeric_attrs)):
            text = columns.attributes.get(spec.column)
            if text is None:
                values[k] = -1
            elif n <= _SMALL_BATCH:
                values[k] = _category_codes_small(text, index[spec.feature])
            else:
                values[k] = _positions(text, self.category_values_[spec.feature])
        return values

    def _check_fitted(self) -> None:
        # sklearn's check_is_fitted scans every attribute: too slow for the single-lead serving path.
        if not hasattr(self, "feature_schema_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return np.asarray(self.feature_names_out_, dtype=object)

    def inspect(self, X: Any) -> InputReport:
        """Report what `transform` would ignore or treat as missing in `X`, without raising on bad values."""
        self._check_fitted()
        schema = self.feature_schema_
        leads_df = _leads_frame(X)
        leads = _prepare_leads(leads_df)
        events = _prepare_events(X.events, leads, with_assets=False)
        report = InputReport(n_leads=len(leads.ids), n_events=len(events.ts))

        layout = _layout(tuple(schema.stage_map.items()), tuple(schema.windows))
        slots = _type_slots(events, layout)
        unknown = np.bincount(events.type_codes[slots == layout.n_types] + 1, minlength=len(events.type_uniques) + 1)
        if unknown[0]:
            report.unknown_event_types["<missing>"] = int(unknown[0])
        for code in np.flatnonzero(unknown[1:]):
            report.unknown_event_types[events.type_uniques[code]] = int(unknown[code + 1])

        known_lead = events.lead >= 0
        has_ts = events.ts != NAT_US
        as_of = _event_as_of(leads.as_of, events.lead)
        has_as_of = known_lead & (as_of != NAT_US)
        report.events_unknown_lead = int((~known_lead).sum())
        report.events_missing_ts = int((known_lead & ~has_ts).sum())
        report.events_without_as_of = int((known_lead & has_ts & ~has_as_of).sum())
        report.events_at_or_after_as_of = int((has_ts & has_as_of & (events.ts >= as_of)).sum())

        for spec in schema.attributes:
            if spec.column not in leads_df.columns:
                report.missing_columns.append(spec.column)
            elif spec.kind == NUMERIC:
                bad = int(np.isnan(_numeric_values(leads_df, spec.column, strict=False)).sum())
                bad -= int(leads_df[spec.column].isna().sum())
                if bad:
                    report.invalid_numeric[spec.column] = bad
            else:
                values = _text_arrow(leads_df[spec.column])
                found = pc.is_in(values, value_set=self.category_values_[spec.feature])
                unseen = values.filter(pc.and_(pc.invert(found), pc.is_valid(values)))
                if len(unseen):
                    counts = sorted(
                        ((c["values"], c["counts"]) for c in pc.value_counts(unseen).to_pylist()),
                        key=lambda vc: (-vc[1], vc[0]),
                    )
                    report.unseen_categories[spec.column] = dict(counts)
        return report


# --- input frames -------------------------------------------------------------------------------------------

# A table as a DataFrame or as its columns by name (looked up once: a DataFrame lookup costs more than a single
# lead's feature arithmetic).
_Table = pd.DataFrame | Mapping[str, pd.Series]


def _leads_frame(X: Any) -> pd.DataFrame:
    leads = getattr(X, "leads", None)
    if not isinstance(leads, pd.DataFrame) or not isinstance(getattr(X, "events", None), pd.DataFrame):
        raise FeatureInputError(
            f"expected a features.contract.LeadBatch(leads, events) of two DataFrames, got {type(X).__name__}"
        )
    return leads


def _prepare_leads(leads: _Table) -> _Leads:
    """The ids and times of a leads table (a DataFrame, or its columns by name), checked."""
    if LEAD_ID not in leads:
        raise FeatureInputError(f"leads: required column '{LEAD_ID}' is missing")
    ids = leads[LEAD_ID]
    ids_arrow = _to_arrow(ids)
    if ids_arrow.null_count:
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise FeatureInputError(f"leads column '{LEAD_ID}' row {row}: missing lead id")
    if len(ids_arrow) > 1 and pc.count_distinct(ids_arrow).as_py() != len(ids_arrow):
        row = int(np.flatnonzero(ids.duplicated().to_numpy())[0])
        raise FeatureInputError(f"leads column '{LEAD_ID}' row {row}: id {ids.iloc[row]!r} appears more than once")
    reference = AS_OF if AS_OF in leads else DECIDED_AT
    if reference not in leads:
        raise FeatureInputError(
            f"leads: need column '{AS_OF}' or '{DECIDED_AT}' (the time the features are computed at)"
        )
    as_of = _timestamps_us(leads[reference], "leads", reference, leads)
    created = _timestamps_us(leads[CREATED_AT], "leads", CREATED_AT, leads) if CREATED_AT in leads else None
    return _Leads(ids=pd.Index(ids, name=LEAD_ID), ids_arrow=ids_arrow, as_of=as_of, created=created)


def _prepare_events(events: pd.DataFrame, leads: _Leads, with_assets: bool) -> _Events:
    if len(events) == 0:
        return _events_of(_no_events(leads), with_assets)
    for column in (EVENT_LEAD_ID, TS, EVENT_TYPE):
        if column not in events.columns:
            raise FeatureInputError(f"events: required column '{column}' is missing")
    columns = LeadColumns(
        as_of_us=leads.as_of,
        created_us=leads.created,
        attributes={},
        event_lead=_lead_positions(events[EVENT_LEAD_ID], leads),
        event_ts_us=_timestamps_us(events[TS], "events", TS, events),
        event_types=_to_arrow(events[EVENT_TYPE]),
        event_assets=_to_arrow(events[ASSET]) if with_assets and ASSET in events.columns else None,
    )
    return _events_of(columns, with_assets)


def _no_events(leads: _Leads) -> LeadColumns:
    empty = np.empty(0, dtype=np.int64)
    return LeadColumns(leads.as_of, leads.created, {}, empty, empty, pa.array([], type=pa.large_string()), None)


def _lead_positions(lead_ids: pd.Series, leads: _Leads) -> np.ndarray:
    """Position of each event's lead among `leads`; -1 when it is not there."""
    codes, uniques = _factorize(_to_arrow(lead_ids))
    known = leads.ids_arrow
    if uniques.type != known.type:
        # A CSV read without dtypes may give integer ids on one side and text on the other.
        uniques, known = uniques.cast(pa.large_string()), known.cast(pa.large_string())
    positions: np.ndarray = np.append(_positions(uniques, known), -1)[codes]
    return positions


def _events_of(columns: LeadColumns, with_assets: bool) -> _Events:
    """The events of `columns` reduced to integer codes."""
    m = len(columns.event_lead)
    if m == 0:
        empty = np.empty(0, dtype=np.int64)
        return _Events(empty, empty, empty, [], empty if with_assets else None, 0)
    type_codes, type_uniques = _factorize(columns.event_types)
    asset_codes: np.ndarray | None = None
    n_assets = 0
    if with_assets:
        if columns.event_assets is not None:
            asset_codes, asset_uniques = _factorize(columns.event_assets)
            n_assets = len(asset_uniques)
        else:
            asset_codes = np.full(m, -1, dtype=np.int64)
    type_names = [str(t) for t in type_uniques.to_pylist()]
    return _Events(columns.event_lead, columns.event_ts_us, type_codes, type_names, asset_codes, n_assets)


def _to_arrow(values: pd.Series) -> pa.Array:
    """The column as one Arrow array (zero-copy for Arrow-backed columns)."""
    dtype = values.dtype  # read once: each access goes through pandas' internals (single-lead path)
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(dtype.categories.dtype)
        dtype = values.dtype
    if _arrow_backed(dtype):
        array = pa.array(values.array)
    else:
        try:
            array = pa.array(values.to_numpy(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array(values.astype("str").array)  # mixed Python objects: compare them as text
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def _arrow_backed(dtype: Any) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    return isinstance(dtype, pd.ArrowDtype)


def _text_arrow(values: pd.Series) -> pa.Array:
    """A categorical attribute as Arrow text; non-text values are spelled as pandas spells them (3 -> "3")."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        values = values.astype("str")
    array = _to_arrow(values)
    if not (pa.types.is_large_string(array.type) or pa.types.is_string(array.type)):
        array = _to_arrow(values.astype("str"))
    return array


def _factorize(array: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (-1 for missing) and the distinct values."""
    m = len(array)
    if m <= _SMALL_FACTORIZE and (pa.types.is_large_string(array.type) or pa.types.is_string(array.type)):
        first: dict[str, int] = {}  # value -> code, in order of first appearance, as dictionary_encode numbers them
        values = array.to_pylist()
        small = np.fromiter((-1 if v is None else first.setdefault(v, len(first)) for v in values), np.int64, m)
        return small, pa.array(list(first), type=array.type)
    run_start = _run_starts(array) if m >= _RUN_DETECTION_MIN else None
    if run_start is not None:
        encoded = array.take(pa.array(run_start)).dictionary_encode()
    else:
        encoded = array.dictionary_encode()
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(-1)
    codes: np.ndarray = indices.to_numpy(zero_copy_only=False)
    if run_start is not None:
        codes = np.repeat(codes, np.diff(run_start, append=m))
    return codes, encoded.dictionary


def _run_starts(array: pa.Array) -> np.ndarray | None:
    """Start of every run of equal values, when the column is mostly long runs (events grouped by lead).

    Hashing only the first value of each run is then far cheaper than hashing ten million strings.
    """
    m = len(array)
    probe = array.slice(0, _RUN_PROBE)
    probe_changes = pc.sum(pc.not_equal(probe.slice(1), probe.slice(0, len(probe) - 1))).as_py() or 0
    if probe_changes * _MIN_RUN_LENGTH > len(probe):
        return None  # interleaved values: one hash pass over all of them is cheaper
    changed = pc.fill_null(pc.not_equal(array.slice(1), array.slice(0, m - 1)), True)
    after_change = pc.indices_nonzero(changed).to_numpy()
    starts = np.zeros(len(after_change) + 1, dtype=np.int64)
    starts[1:] = after_change + 1
    return None if len(starts) * _MIN_RUN_LENGTH > m else starts


def _timestamps_us(values: pd.Series, table: str, column: str, frame: _Table) -> np.ndarray:
    """int64 microseconds since the epoch (tz-naive UTC), NAT_US where missing."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    elif dtype.kind != "M":
        if dtype.kind in "iufbm":
            raise FeatureInputError(f"{table} column '{column}': expected timestamps, got {dtype} values")
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
        bad = parsed.isna().to_numpy() & values.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise FeatureInputError(
                f"{table} column '{column}' row {row}{_row_id(frame, row)}: cannot read "
                f"{values.iloc[row]!r} as a timestamp"
            )
        values = parsed.dt.tz_localize(None)
    stamps = np.asarray(values.array)
    if stamps.dtype != np.dtype("datetime64[us]"):
        stamps = stamps.astype("datetime64[us]")
    return stamps.view(np.int64)


def _row_id(frame: _Table, row: int) -> str:
    return f" (lead_id {frame[LEAD_ID].iloc[row]!r})" if LEAD_ID in frame else ""


# --- parameters and attributes ------------------------------------------------------------------------------


def _validated_stage_map(stage_map: Mapping[str, str] | None) -> dict[str, str]:
    if stage_map is None:
        return dict(DEFAULT_STAGE_MAP)
    if not isinstance(stage_map, Mapping):
        raise FeatureInputError(f"stage_map: expected a mapping event type -> stage, got {type(stage_map).__name__}")
    out: dict[str, str] = {}
    slugs: dict[str, str] = {}
    for event_type, stage in stage_map.items():
        if not isinstance(event_type, str) or not event_type:
            raise FeatureInputError(f"stage_map: event type {event_type!r} is not a non-empty string")
        if stage not in STAGES:
            raise FeatureInputError(
                f"stage_map['{event_type}']: unknown stage {stage!r}; expected one of {', '.join(STAGES)}"
            )
        slug = _slug(event_type)
        if slug in slugs:
            raise FeatureInputError(
                f"stage_map: event types {slugs[slug]!r} and {event_type!r} give the same feature name '{slug}'"
            )
        slugs[slug] = event_type
        out[event_type] = stage
    return out


def _validated_windows(windows: Iterable[int]) -> tuple[int, ...]:
    try:
        values = tuple(windows)
    except TypeError:
        raise FeatureInputError(f"windows: expected a sequence of days, got {windows!r}") from None
    for w in values:
        if isinstance(w, bool) or not isinstance(w, int | np.integer) or w <= 0:
            raise FeatureInputError(f"windows: {w!r} is not a positive whole number of days")
    if len(set(values)) != len(values):
        raise FeatureInputError(f"windows: {list(values)} has duplicates")
    return tuple(sorted(int(w) for w in values))


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in text.strip().lower())
    return cleaned or "_"


def _window_suffixes(windows: Sequence[int]) -> list[str]:
    return [f"{w}d" for w in windows] + ["all"]


def _engagement_names(stage_map: Mapping[str, str], windows: Sequence[int]) -> list[str]:
    suffixes = _window_suffixes(windows)
    names = [f"n_{_slug(t)}_{s}" for t in stage_map for s in suffixes]
    names += [f"n_stage_{stage}_{s}" for stage in STAGES for s in suffixes]
    names += [
        "days_since_last_event",
        "days_since_last_decision_event",
        "days_since_first_event",
        "lead_age_days",
        "n_distinct_assets",
        f"velocity_{VELOCITY_DAYS}d",
    ]
    names += list(FLAG_EVENT_TYPES)
    return names


def _attribute_specs(
    leads: pd.DataFrame, categorical: Sequence[str] | None, numeric: Sequence[str] | None
) -> list[AttributeSpec]:
    given: dict[str, AttributeKind] = {}
    lists: tuple[tuple[AttributeKind, Sequence[str] | None], ...] = (
        ("categorical", categorical),
        ("numeric", numeric),
    )
    for kind, columns in lists:
        if columns is None:
            continue
        if isinstance(columns, str):
            raise FeatureInputError(f"{kind} columns: expected a list of column names, got the text {columns!r}")
        for column in columns:
            if column == SOURCE and kind == CATEGORICAL:
                continue  # source is always categorical; listing it is harmless
            if column in _FORBIDDEN_ATTRIBUTES:
                raise FeatureInputError(
                    f"{kind} columns: '{column}' is an identifier, time or outcome column and cannot be a feature"
                )
            if column not in leads.columns:
                raise FeatureInputError(f"{kind} columns: leads have no column '{column}'")
            if column in given:
                raise FeatureInputError(f"column '{column}' is listed as both categorical and numeric")
            given[column] = kind

    kinds: dict[str, AttributeKind] = {SOURCE: "categorical"}
    for column in leads.columns:
        if column in given:
            kinds[column] = given[column]
            continue
        if column in RESERVED_COLUMNS or not isinstance(column, str):
            continue
        inferred = DEFAULT_ATTRIBUTE_KINDS.get(column) or _kind_from_dtype(leads[column])
        if inferred is None or (inferred == CATEGORICAL and categorical is not None):
            continue
        if inferred == NUMERIC and numeric is not None:
            continue
        if inferred == CATEGORICAL and column not in DEFAULT_ATTRIBUTE_KINDS and _looks_like_identifier(leads[column]):
            logger.warning("leads column '%s' looks like an identifier (mostly unique text); not used", column)
            continue
        kinds[column] = inferred

    specs = [AttributeSpec(column=c, kind=k, feature=c.translate(_NAME_UNSAFE)) for c, k in kinds.items()]
    features = [s.feature for s in specs]
    if len(set(features)) != len(features):
        raise FeatureInputError(f"attribute columns {list(kinds)} give duplicate feature names {features}")
    return specs


def _kind_from_dtype(values: pd.Series) -> AttributeKind | None:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or dtype.kind in "OSU" or isinstance(dtype, pd.StringDtype):
        return "categorical"
    if dtype.kind in "biuf":
        return "numeric"
    return None  # timestamps, durations and anything exotic are not used as they are


def _looks_like_identifier(values: pd.Series) -> bool:
    distinct = values.nunique(dropna=True)
    return bool(distinct >= _ID_LIKE_MIN_DISTINCT and distinct > 0.5 * values.notna().sum())


def _categories(values: pd.Series) -> tuple[str, ...]:
    distinct = pc.unique(_text_arrow(values)).drop_null().to_pylist()
    return tuple(sorted(str(v) for v in distinct))


def _category_codes_small(text: pa.Array, index: Mapping[str, int]) -> np.ndarray:
    """`_positions` for a handful of values: a dict lookup each, no hash table of the categories."""
    return np.array([-1 if value is None else index.get(value, -1) for value in text.to_pylist()], dtype=np.int64)


def _positions(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """int64 position of each value in `value_set`; -1 when absent or missing."""
    found = pc.index_in(values, value_set=value_set)
    if found.null_count:
        found = found.fill_null(-1)
    positions: np.ndarray = found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return positions


def _numeric_values(leads: _Table, column: str, strict: bool) -> np.ndarray:
    values = leads[column]
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return np.asarray(values.array, dtype=np.float64)
    if values.dtype.kind in "biuf":  # nullable extension dtypes
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(values, errors="coerce")
    out = np.asarray(converted.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    if strict:
        bad = np.isnan(out) & values.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise FeatureInputError(
                f"leads column '{column}' row {row}{_row_id(leads, row)}: expected a number, got {values.iloc[row]!r}"
            )
    return out


# --- the engagement computation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Everything about the output layout that depends only on the stage map and the windows."""

    type_slot: Mapping[str, int]  # event type -> slot; unmapped types share slot n_types ("other")
    n_types: int
    stage_of_slot: np.ndarray
    decision_slots: np.ndarray  # bool per slot
    edges_us: np.ndarray  # upper ends of the age bins, microseconds
    window_bins: list[int]  # cumulative bin that closes each window (windows..., all time)
    recent_bin: int
    before_bin: int
    flag_slots: list[tuple[str, int | None]]  # flag event type, its slot when mapped


@lru_cache(maxsize=32)
def _layout(stage_items: tuple[tuple[str, str], ...], windows: tuple[int, ...]) -> _Layout:
    n_types = len(stage_items)
    type_slot = {t: i for i, (t, _) in enumerate(stage_items)}
    stage_of_slot = np.array([STAGES.index(s) for _, s in stage_items] + [STAGES.index("other")])
    edges = sorted(set(windows) | {VELOCITY_DAYS, 2 * VELOCITY_DAYS})
    return _Layout(
        type_slot=type_slot,
        n_types=n_types,
        stage_of_slot=stage_of_slot,
        decision_slots=stage_of_slot == STAGES.index("decision"),
        edges_us=np.asarray(edges, dtype=np.int64) * _US_PER_DAY,
        window_bins=[edges.index(w) for w in windows] + [len(edges)],
        recent_bin=edges.index(VELOCITY_DAYS),
        before_bin=edges.index(2 * VELOCITY_DAYS),
        flag_slots=[(t, type_slot.get(t)) for t in FLAG_EVENT_TYPES.values()],
    )


def _type_slots(events: _Events, layout: _Layout) -> np.ndarray:
    """Per event, the slot of its type; unmapped and missing types get slot n_types."""
    # A lookup per distinct type (a handful), then one vectorised take per event.
    slot_of_code = np.array(
        [layout.type_slot.get(t, layout.n_types) for t in events.type_uniques] + [layout.n_types],
        dtype=np.int64,
    )
    slots: np.ndarray = slot_of_code[events.type_codes]
    return slots


def _engagement_block(
    as_of: np.ndarray,
    created: np.ndarray | None,
    events: _Events,
    stage_map: Mapping[str, str],
    windows: Sequence[int],
    out: np.ndarray,
) -> None:
    """Fill `out` (engagement features x leads, rows in `_engagement_names` order) in place from the leads'
    reference times and creation times (int64 microseconds, NAT_US when unknown)."""
    n = len(as_of)
    layout = _layout(tuple(stage_map.items()), tuple(windows))
    n_types = layout.n_types
    n_slots = n_types + 1
    slots = _type_slots(events, layout)

    # Events not known at the lead's reference time go to an extra "discard" lead (row n) rather than being
    # filtered out: masking ten million rows several times costs more than carrying them along.
    age = _event_as_of(as_of, events.lead)
    keep = (events.lead >= 0) & (events.ts != NAT_US) & (age != NAT_US) & (events.ts < age)
    lead = np.where(keep, events.lead, n)
    np.subtract(age, events.ts, out=age)  # microseconds before the reference time, > 0 where kept
    age[~keep] = 0
    del keep

    # An event is in the d-day window when it is at most d days before the reference time. One bincount
    # over (type slot, age bin, lead) followed by a cumulative sum over the bins gives every window at once,
    # already in the feature-major layout of `out`.
    n_bins = len(layout.edges_us) + 1
    flat = np.searchsorted(layout.edges_us, age, side="left")
    flat += slots * n_bins
    flat *= n + 1
    flat += lead
    counts = np.bincount(flat, minlength=n_slots * n_bins * (n + 1)).reshape(n_slots, n_bins, n + 1)[:, :, :n]
    del flat
    np.cumsum(counts, axis=1, out=counts)
    n_w = len(layout.window_bins)
    per_window = counts[:, layout.window_bins, :]  # slots x (windows + all) x leads

    row = 0
    out[row : row + n_types * n_w] = per_window[:n_types].reshape(n_types * n_w, n)
    row += n_types * n_w
    for g in range(len(STAGES)):
        out[row : row + n_w] = per_window[layout.stage_of_slot == g].sum(axis=0)
        row += n_w

    # Most recent event per (lead, type slot); recency overall and of decision-stage events follow from it.
    latest = np.full((n + 1) * n_slots, _INT64_MAX, dtype=np.int64)
    np.minimum.at(latest, lead * n_slots + slots, age)
    latest = latest.reshape(n + 1, n_slots)[:n]
    out[row] = _days(latest.min(axis=1))
    decision = latest[:, layout.decision_slots]
    out[row + 1] = _days(decision.min(axis=1)) if decision.shape[1] else np.nan
    first_touch = np.full(n + 1, -1, dtype=np.int64)
    np.maximum.at(first_touch, lead, age)
    out[row + 2] = np.where(first_touch[:n] <= 0, np.nan, first_touch[:n] / _US_PER_DAY)
    if created is not None:
        known = (created != NAT_US) & (as_of != NAT_US)
        out[row + 3] = np.where(known, (as_of - np.where(known, created, 0)) / _US_PER_DAY, np.nan)
    else:
        out[row + 3] = np.nan
    out[row + 4] = _distinct_assets(lead, events.asset_codes, events.n_assets, n)
    totals = counts.sum(axis=0)  # bins x leads, cumulative
    recent = totals[layout.recent_bin]
    before = totals[layout.before_bin] - recent
    # log ratio with +1 smoothing: 0 for no change (or no events), symmetric for rises and falls
    out[row + 5] = np.log1p(recent) - np.log1p(before)
    row += 6

    for event_type, slot in layout.flag_slots:
        if slot is not None:
            out[row] = per_window[slot, -1] > 0
        elif event_type in events.type_uniques:
            # a flag type the stage map leaves out (counted as "other"): look for it directly
            hit = events.type_codes == events.type_uniques.index(event_type)
            out[row] = np.bincount(lead[hit], minlength=n + 1)[:n] > 0
        else:
            out[row] = 0.0
        row += 1


def _event_as_of(as_of: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """Reference time of each event's lead; NAT_US for events of unknown leads."""
    # position -1 (unknown lead) picks the appended NAT_US
    per_event: np.ndarray = np.append(as_of, NAT_US)[lead]
    return per_event


def _days(age_us: np.ndarray) -> np.ndarray:
    days: np.ndarray = np.where(age_us == _INT64_MAX, np.nan, age_us / _US_PER_DAY)
    return days


def _distinct_assets(lead: np.ndarray, asset_codes: np.ndarray | None, n_assets: int, n: int) -> np.ndarray:
    """Distinct non-missing assets per lead; `lead` == n marks discarded events."""
    assert asset_codes is not None
    width = n_assets + 1  # column 0 collects events without an asset
    key = lead * width
    key += asset_codes
    key += 1
    if (n + 1) * width <= _ASSET_GRID_MAX:
        seen = np.zeros((n + 1) * width, dtype=np.uint8)
        seen[key] = 1
        distinct: np.ndarray = seen.reshape(n + 1, width)[:n, 1:].sum(axis=1, dtype=np.int64)
        return distinct
    pairs = np.unique(key)
    pairs = pairs[pairs % width != 0]
    return np.bincount(pairs // width, minlength=n + 1)[:n]
