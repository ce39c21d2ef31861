"""The simulated CRM history: contract shape, the story's promises, determinism, truth isolation."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import contract as c
from features.summary import ALL, SUMMARY_COLUMNS, events_per_lead, summarize_history
from simulator import (
    DECISION_TYPES,
    DEFAULT_OPEN_WINDOW_DAYS,
    DEFAULT_REFERENCE_DATE,
    EVENT_TYPES,
    INBOUND_SOURCES,
    LEAK_TYPES,
    SOURCES,
    TRUTH_COLUMNS,
    SimulatedHistory,
    SimulationError,
    read_truth,
    simulate,
    write_history,
)

N = 30_000
SEED = 11
REF = pd.Timestamp(DEFAULT_REFERENCE_DATE)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def history() -> SimulatedHistory:
    return simulate(N, seed=SEED)


@pytest.fixture(scope="module")
def closed(history: SimulatedHistory) -> pd.DataFrame:
    leads = history.leads
    return leads[leads[c.OUTCOME].notna()]


def _close_rate(frame: pd.DataFrame) -> pd.Series:
    return (frame[c.OUTCOME] == c.WON).groupby(frame[c.SOURCE]).mean()


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), without importing scikit-learn."""
    y = np.asarray(y, dtype=bool)
    ranks = pd.Series(np.asarray(score, dtype=float)).rank().to_numpy()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 30) -> np.ndarray:
    """Ridge logistic regression by Newton steps (a few dozen features: each step is one small solve)."""
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    penalty = l2 * np.eye(x1.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x1 @ w)))
        grad = x1.T @ (p - y) + penalty @ w
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + penalty
        w -= np.linalg.solve(hess, grad)
    return w


def _predict_logistic(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))]) @ w


# --- shape --------------------------------------------------------------------------------------------------


def test_frames_follow_the_contract(history: SimulatedHistory) -> None:
    leads, events, truth = history.leads, history.events, history.truth
    assert len(leads) == N
    assert list(leads.columns) == [
        *c.REQUIRED_LEAD_COLUMNS,
        *c.FIRMOGRAPHIC,
        *c.OPTIONAL_LEAD_COLUMNS,
    ]
    for col in (c.LEAD_ID, c.SOURCE, c.OUTCOME, "industry", "country", "job_level"):
        assert leads[col].dtype == "str", col
    for col in c.LEAD_TIME_COLUMNS:
        assert leads[col].dtype == c.TIMESTAMP_DTYPE, col
    assert leads["company_size"].dtype == np.int64
    assert leads[c.SALES_HOURS].dtype == np.float64
    assert leads[c.DEAL_VALUE].dtype == np.float64
    assert leads[c.LEAD_ID].is_unique
    assert set(leads[c.SOURCE].unique()) == set(SOURCES)
    assert set(leads[c.OUTCOME].dropna().unique()) == set(c.OUTCOMES)

    assert list(events.columns) == [c.EVENT_LEAD_ID, c.TS, c.EVENT_TYPE, c.ASSET]
    assert events.dtypes.to_dict() == c.empty_events().dtypes.to_dict()
    assert set(events[c.EVENT_TYPE].unique()) == set(EVENT_TYPES)
    assert events[c.EVENT_LEAD_ID].isin(leads[c.LEAD_ID]).all()

    assert list(truth.columns) == list(TRUTH_COLUMNS)
    assert truth[c.LEAD_ID].equals(leads[c.LEAD_ID])
    assert truth["p_close"].between(0, 1, inclusive="neither").all()
    assert (truth["expected_hours"] > 0).all()
    assert (truth["expected_days_to_close"] >= 1).all()


def test_events_per_lead_on_average_in_the_target_range(history: SimulatedHistory) -> None:
    assert 20 <= len(history.events) / N <= 40


def test_events_are_chronological_runs_per_lead(history: SimulatedHistory) -> None:
    events = history.events
    pos = pd.Index(history.leads[c.LEAD_ID]).get_indexer(events[c.EVENT_LEAD_ID])
    ts = events[c.TS].to_numpy().astype(np.int64)
    assert (np.diff(pos) >= 0).all()
    same = np.diff(pos) == 0
    assert (np.diff(ts)[same] >= 0).all()


def test_assets_follow_the_naming_scheme(history: SimulatedHistory) -> None:
    events = history.events
    expected = {
        "whitepaper_download": r"wp-\d+",
        "case_study_read": r"cs-\d+",
        "tech_doc_download": r"doc-\d+",
        "webinar_attended": r"webinar-\d+",
        "page_visit": r"page-\d+",
    }
    for event_type, pattern in expected.items():
        assets = events.loc[events[c.EVENT_TYPE] == event_type, c.ASSET]
        assert assets.str.fullmatch(pattern).all(), event_type
    assert events.loc[events[c.EVENT_TYPE] == "demo_request", c.ASSET].isna().all()


def test_timeline_is_fixed_by_the_reference_date_not_the_clock(history: SimulatedHistory) -> None:
    leads, events = history.leads, history.events
    start = REF - pd.DateOffset(months=18)
    assert leads[c.DECIDED_AT].min() >= start
    assert leads[c.DECIDED_AT].max() < REF
    delay_days = (leads[c.DECIDED_AT] - leads[c.CREATED_AT]).dt.total_seconds() / 86_400
    assert delay_days.min() >= 2
    assert 7 <= delay_days.median() <= 21  # "a few days to a few weeks"
    assert events[c.TS].max() < REF
    assert leads[c.CLOSED_AT].max() <= REF


# --- the story ----------------------------------------------------------------------------------------------


def test_close_rates_rank_sources_as_the_story_says(closed: pd.DataFrame) -> None:
    rate = _close_rate(closed)
    for inbound in INBOUND_SOURCES:
        # "several times the rate of telemarketing"
        assert rate[inbound] > 2.5 * rate["telemarketing"], rate
    assert rate["telemarketing"] > rate["cold_call"] > 0
    assert rate["referral"] > rate["telemarketing"]
    assert rate["event"] > rate["telemarketing"]


def test_overall_close_rate_is_between_8_and_15_percent(closed: pd.DataFrame) -> None:
    assert 0.08 <= (closed[c.OUTCOME] == c.WON).mean() <= 0.15


def test_inbound_leads_cost_many_hours_telemarketing_little(closed: pd.DataFrame) -> None:
    hours = closed.groupby(c.SOURCE)[c.SALES_HOURS].mean()
    for inbound in INBOUND_SOURCES:
        assert hours[inbound] > 3 * hours["telemarketing"], hours
        assert hours[inbound] >= 4  # several hours at least
    for cheap in ("telemarketing", "cold_call"):
        assert hours[cheap] < 2.5, hours


def test_won_deals_cost_more_hours_than_lost_in_every_source(closed: pd.DataFrame) -> None:
    hours = closed.groupby([c.SOURCE, c.OUTCOME])[c.SALES_HOURS].mean().unstack()
    assert (hours[c.WON] > 2 * hours[c.LOST]).all(), hours


def test_effort_varies_within_a_source_with_company_size(closed: pd.DataFrame) -> None:
    for source in ("inbound_content", "telemarketing"):
        part = closed[closed[c.SOURCE] == source]
        rho = np.corrcoef(np.log(part["company_size"]), np.log(part[c.SALES_HOURS]))[0, 1]
        assert rho > 0.3, (source, rho)


def test_closes_per_hour_policy_beats_an_hours_blind_one(history: SimulatedHistory) -> None:
    p = history.truth["p_close"].to_numpy()
    hours = history.truth["expected_hours"].to_numpy()
    budget = 0.1 * hours.sum()

    def expected_closes(score: np.ndarray) -> float:
        order = np.argsort(-score, kind="stable")
        take = np.cumsum(hours[order]) <= budget
        return float(p[order][take].sum())

    assert expected_closes(p / hours) > 1.2 * expected_closes(p)


def test_inbound_closes_faster_than_telemarketing_and_cold_calls(closed: pd.DataFrame) -> None:
    won = closed[closed[c.OUTCOME] == c.WON]
    days = ((won[c.CLOSED_AT] - won[c.DECIDED_AT]).dt.total_seconds() / 86_400).groupby(won[c.SOURCE]).median()
    for inbound in INBOUND_SOURCES:
        for slow in ("telemarketing", "cold_call"):
            assert days[inbound] < 0.6 * days[slow], days


def test_deal_value_grows_with_company_size(history: SimulatedHistory) -> None:
    leads = history.leads
    size_band = pd.qcut(leads["company_size"], 5, labels=False, duplicates="drop")
    median_value = leads[c.DEAL_VALUE].groupby(size_band).median()
    assert median_value.is_monotonic_increasing
    assert median_value.iloc[-1] > 5 * median_value.iloc[0]


def test_decision_stage_events_are_more_frequent_among_won_leads(
    history: SimulatedHistory, closed: pd.DataFrame
) -> None:
    events = history.events
    decision = events[events[c.EVENT_TYPE].isin(DECISION_TYPES)]
    per_lead = decision[c.EVENT_LEAD_ID].value_counts().reindex(closed[c.LEAD_ID], fill_value=0).to_numpy()
    won = (closed[c.OUTCOME] == c.WON).to_numpy()
    assert per_lead[won].mean() > 2 * per_lead[~won].mean()


def test_hot_leads_decision_events_are_recent(history: SimulatedHistory) -> None:
    leads = history.leads.set_index(c.LEAD_ID)
    events = history.events[history.events[c.EVENT_TYPE].isin(DECISION_TYPES)]
    decided = leads[c.DECIDED_AT].reindex(events[c.EVENT_LEAD_ID]).to_numpy()
    created = leads[c.CREATED_AT].reindex(events[c.EVENT_LEAD_ID]).to_numpy()
    position = (events[c.TS].to_numpy() - created) / (decided - created)
    p = history.truth.set_index(c.LEAD_ID)["p_close"].reindex(events[c.EVENT_LEAD_ID]).to_numpy()
    hot = p >= np.quantile(p, 0.8)
    cold = p <= np.quantile(p, 0.2)
    # hot leads' decision-stage events sit clearly later in the created -> decided window (about 0.09 of it)
    assert np.median(position[hot]) > np.median(position[cold]) + 0.05


def test_inbound_share_grows_over_time(history: SimulatedHistory) -> None:
    leads = history.leads
    third = pd.qcut(leads[c.DECIDED_AT].astype("int64"), 3, labels=False)
    share = leads[c.SOURCE].isin(INBOUND_SOURCES).groupby(third).mean()
    assert share.iloc[0] < 0.27 and share.iloc[2] > 0.33, share
    assert share.is_monotonic_increasing


def test_outcome_is_learnable_but_not_trivial(history: SimulatedHistory) -> None:
    leads, events = history.leads, history.events
    pre_types = [t for t in EVENT_TYPES if t not in LEAK_TYPES]
    pre = events[events[c.EVENT_TYPE].isin(pre_types)]
    pos = pd.Index(leads[c.LEAD_ID]).get_indexer(pre[c.EVENT_LEAD_ID])
    typ = pd.Categorical(pre[c.EVENT_TYPE], categories=pre_types).codes.astype(np.int64)
    counts = np.bincount(pos * len(pre_types) + typ, minlength=N * len(pre_types)).reshape(N, -1)
    firmographics = pd.get_dummies(leads[[c.SOURCE, "industry", "country", "job_level"]]).to_numpy(dtype=float)
    x = np.hstack([np.log1p(counts), firmographics, np.log(leads[["company_size"]].to_numpy(dtype=float))])
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)
    is_closed = leads[c.OUTCOME].notna().to_numpy()
    y = (leads[c.OUTCOME] == c.WON).to_numpy()
    # Time-ordered split, as training does: fit on the earlier 70% of closed leads.
    order = np.argsort(leads[c.DECIDED_AT].to_numpy(), kind="stable")
    closed_idx = order[is_closed[order]]
    cut = int(0.7 * len(closed_idx))
    train, test = closed_idx[:cut], closed_idx[cut:]
    w = _fit_logistic(x[train], y[train].astype(float))
    auc = _auc(y[test], _predict_logistic(w, x[test]))
    assert 0.76 <= auc <= 0.9, auc
    # Even the true probability leaves real uncertainty: the task is not trivial.
    assert _auc(y[is_closed], history.truth["p_close"].to_numpy()[is_closed]) < 0.93


def test_truth_is_calibrated_against_outcomes_and_effort(history: SimulatedHistory, closed: pd.DataFrame) -> None:
    truth = history.truth.set_index(c.LEAD_ID).loc[closed[c.LEAD_ID]]
    won = (closed[c.OUTCOME] == c.WON).to_numpy()
    # Closed leads are not a random sample (slow deals are still open), hence the tolerances.
    assert truth["p_close"].mean() == pytest.approx(won.mean(), rel=0.1)
    assert truth["expected_hours"].mean() == pytest.approx(closed[c.SALES_HOURS].mean(), rel=0.1)
    days = (closed[c.CLOSED_AT] - closed[c.DECIDED_AT]).dt.total_seconds().to_numpy()[won] / 86_400
    early = (closed[c.DECIDED_AT] < REF - pd.DateOffset(months=9)).to_numpy()[won]
    assert days[early].mean() == pytest.approx(truth["expected_days_to_close"].to_numpy()[won][early].mean(), rel=0.1)


# --- open leads and the leak trap ---------------------------------------------------------------------------


def test_open_and_closed_leads_carry_the_right_fields(history: SimulatedHistory) -> None:
    leads = history.leads
    is_open = leads[c.OUTCOME].isna()
    assert 0.03 < is_open.mean() < 0.2
    assert leads.loc[is_open, [c.CLOSED_AT, c.SALES_HOURS]].isna().all().all()
    done = leads[~is_open]
    assert done[[c.CLOSED_AT, c.SALES_HOURS, c.DEAL_VALUE]].notna().all().all()
    assert (done[c.CLOSED_AT] > done[c.DECIDED_AT]).all()
    assert (done[c.CLOSED_AT] <= REF).all()
    assert (done[c.SALES_HOURS] > 0).all()
    assert leads[c.DEAL_VALUE].notna().all()


def test_open_leads_are_exactly_the_recent_and_the_unresolved(history: SimulatedHistory) -> None:
    # Lead draws do not depend on the open window, so a zero window shows which deals resolve after the
    # reference date; the default window adds exactly the leads decided in its last days.
    unresolved = simulate(N, seed=SEED, open_window_days=0).leads[c.OUTCOME].isna()
    leads = history.leads
    recent = leads[c.DECIDED_AT] >= REF - pd.Timedelta(days=DEFAULT_OPEN_WINDOW_DAYS)
    assert recent.any() and (unresolved & ~recent).any()
    assert leads[c.OUTCOME].isna().equals(recent | unresolved)
    # Unresolved leads are those whose deal is still running: decided not long ago.
    age = (REF - leads.loc[unresolved & ~recent, c.DECIDED_AT]).dt.days
    assert age.median() < 90


def test_only_leak_types_happen_after_the_decision(history: SimulatedHistory) -> None:
    leads = history.leads.set_index(c.LEAD_ID)
    events = history.events
    decided = leads[c.DECIDED_AT].reindex(events[c.EVENT_LEAD_ID]).to_numpy()
    created = leads[c.CREATED_AT].reindex(events[c.EVENT_LEAD_ID]).to_numpy()
    closed_at = leads[c.CLOSED_AT].reindex(events[c.EVENT_LEAD_ID]).to_numpy()
    ts = events[c.TS].to_numpy()
    leak = events[c.EVENT_TYPE].isin(LEAK_TYPES).to_numpy()
    assert (ts[~leak] < decided[~leak]).all()
    assert (ts[~leak] >= created[~leak]).all()
    assert (ts[leak] > decided[leak]).all()
    has_close = ~np.isnat(closed_at)
    assert (ts[leak & has_close] < closed_at[leak & has_close]).all()


def test_leak_events_depend_on_the_outcome(history: SimulatedHistory, closed: pd.DataFrame) -> None:
    events = history.events
    contract_leads = set(events.loc[events[c.EVENT_TYPE] == "contract_download", c.EVENT_LEAD_ID])
    has_contract = closed[c.LEAD_ID].isin(contract_leads).to_numpy()
    won = (closed[c.OUTCOME] == c.WON).to_numpy()
    assert has_contract[won].mean() > 0.8
    assert has_contract[~won].mean() < 0.1
    # The trap works: one leaky count almost separates the classes.
    assert _auc(won, has_contract.astype(float)) > 0.9


def test_leads_still_to_score_have_no_post_decision_events(history: SimulatedHistory) -> None:
    leads = history.leads
    recent = leads.loc[leads[c.DECIDED_AT] >= REF - pd.Timedelta(days=DEFAULT_OPEN_WINDOW_DAYS), c.LEAD_ID]
    events = history.events
    assert not events.loc[events[c.EVENT_TYPE].isin(LEAK_TYPES), c.EVENT_LEAD_ID].isin(recent).any()
    assert events[c.EVENT_LEAD_ID].isin(recent).any()


# --- determinism and files ----------------------------------------------------------------------------------


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_same_bytes(tmp_path: Path, fmt: str) -> None:
    write_history(simulate(2_000, seed=3), tmp_path / "a", fmt=fmt)  # type: ignore[arg-type]
    write_history(simulate(2_000, seed=3), tmp_path / "b", fmt=fmt)  # type: ignore[arg-type]
    write_history(simulate(2_000, seed=4), tmp_path / "c", fmt=fmt)  # type: ignore[arg-type]
    a, b, other = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert sorted(a) == [f"events.{fmt}", f"leads.{fmt}", f"truth.{fmt}"]
    assert a == b
    assert all(a[name] != other[name] for name in a)


def test_different_seeds_differ() -> None:
    one, two = simulate(2_000, seed=1), simulate(2_000, seed=2)
    assert not one.leads[c.SOURCE].equals(two.leads[c.SOURCE])
    assert not one.truth["p_close"].equals(two.truth["p_close"])
    assert len(one.events) != len(two.events) or not one.events[c.TS].equals(two.events[c.TS])


def test_months_and_reference_date_shape_the_period() -> None:
    sim = simulate(1_000, seed=5, months=3, reference_date="2024-06-30 12:00")
    assert sim.leads[c.DECIDED_AT].min() >= pd.Timestamp("2024-03-30 12:00")
    assert sim.leads[c.DECIDED_AT].max() < pd.Timestamp("2024-06-30 12:00")
    assert sim.events[c.TS].max() < pd.Timestamp("2024-06-30 12:00")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_written_history_loads_back_unchanged(tmp_path: Path, fmt: str) -> None:
    from features.io import load_history_dir

    sim = simulate(1_500, seed=9)
    paths = write_history(sim, tmp_path, fmt=fmt)  # type: ignore[arg-type]
    assert set(paths) == {"leads", "events", "truth"}
    loaded = load_history_dir(tmp_path)
    pd.testing.assert_frame_equal(loaded.leads[sim.leads.columns], sim.leads)
    pd.testing.assert_frame_equal(loaded.events.reset_index(drop=True), sim.events)
    pd.testing.assert_frame_equal(read_truth(tmp_path), sim.truth)


def test_rewriting_in_another_format_replaces_the_old_tables(tmp_path: Path) -> None:
    sim = simulate(300, seed=9)
    write_history(sim, tmp_path, fmt="csv")
    write_history(sim, tmp_path, fmt="parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.parquet", "leads.parquet", "truth.parquet"]


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="n_leads must be a positive integer"):
        simulate(0, seed=1)
    with pytest.raises(SimulationError, match="months must be an integer between 1"):
        simulate(10, seed=1, months=0)
    with pytest.raises(SimulationError, match="reference_date 'someday' is not a date"):
        simulate(10, seed=1, reference_date="someday")
    with pytest.raises(SimulationError, match="open_window_days must be >= 0"):
        simulate(10, seed=1, open_window_days=-1)
    sim = simulate(10, seed=1)
    with pytest.raises(SimulationError, match="format must be one of"):
        write_history(sim, tmp_path, fmt="xlsx")  # type: ignore[arg-type]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SimulationError, match="exists and is not a directory"):
        write_history(sim, blocker)


def test_read_truth_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="directory not found"):
        read_truth(tmp_path / "nowhere")
    with pytest.raises(SimulationError, match="no truth table"):
        read_truth(tmp_path)
    (tmp_path / "truth.csv").write_text("lead_id,p_close,expected_hours,expected_days_to_close\nL1,0.5,2,x\n")
    with pytest.raises(SimulationError, match=r"row 1, column expected_days_to_close: not a number"):
        read_truth(tmp_path)
    (tmp_path / "truth.csv").write_text("lead_id,p_close\nL1,0.5\n")
    with pytest.raises(SimulationError, match="missing column"):
        read_truth(tmp_path)


# --- summary ------------------------------------------------------------------------------------------------


def test_summary_on_a_hand_written_history() -> None:
    ts = pd.Timestamp("2026-01-01")
    leads = pd.DataFrame(
        {
            c.LEAD_ID: ["a", "b", "c", "d"],
            c.DECIDED_AT: [ts] * 4,
            c.SOURCE: ["referral", "referral", "referral", "cold_call"],
            c.OUTCOME: [c.WON, c.LOST, None, c.LOST],
            c.CLOSED_AT: [
                ts + pd.Timedelta(days=10),
                ts + pd.Timedelta(days=3),
                pd.NaT,
                ts + pd.Timedelta(days=1),
            ],
            c.SALES_HOURS: [10.0, 2.0, np.nan, 1.0],
        }
    )
    events = pd.DataFrame({c.EVENT_LEAD_ID: ["a", "a", "c", "zz", "a"], c.TS: [ts] * 5})
    s = summarize_history(leads, events)
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    assert list(s.index) == ["referral", "cold_call", ALL]
    ref = s.loc["referral"]
    assert (ref["leads"], ref["closed"], ref["won"], ref["open"]) == (3, 2, 1, 1)
    assert ref["share"] == pytest.approx(0.75)
    assert ref["close_rate"] == pytest.approx(0.5)
    assert ref["mean_sales_hours"] == pytest.approx(6.0)
    assert ref["median_days_to_close"] == pytest.approx(10.0)
    assert ref["events_per_lead"] == pytest.approx(4 / 3)  # event of unknown lead "zz" ignored
    total = s.loc[ALL]
    assert (total["leads"], total["closed"], total["won"], total["open"]) == (4, 3, 1, 1)
    assert total["close_rate"] == pytest.approx(1 / 3)
    assert s["median_days_to_close"].isna()["cold_call"]


def test_events_per_lead_does_not_need_grouped_events() -> None:
    counts = events_per_lead(pd.Series(["x", "y", "z"]), pd.Series(["y", "x", "y", "q", "y"]))
    assert counts.tolist() == [1, 3, 0]


def test_summary_of_the_simulation_matches_direct_counts(history: SimulatedHistory) -> None:
    s = summarize_history(history.leads, history.events)
    assert s.loc[ALL, "leads"] == N
    assert s.loc[ALL, "events_per_lead"] == pytest.approx(len(history.events) / N)
    assert s.loc[ALL, "open"] == history.leads[c.OUTCOME].isna().sum()
    assert s.drop(ALL)["leads"].sum() == N


# --- truth is evaluation-only -------------------------------------------------------------------------------

_TRUTH_FILE = re.compile(r"(^|[/\\])truth\.(parquet|csv|pq)$|(^|[/\\])truth\.$")
_ALLOWED = {"training/evaluate.py"}


def _truth_reads(source: str) -> list[int]:
    """Lines importing or calling `read_truth` or naming a `truth.*` file (docstrings, comments: not)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    lines: list[int] = []
    for node in ast.walk(tree):
        imports = isinstance(node, ast.ImportFrom) and any(a.name == "read_truth" for a in node.names)
        names = (isinstance(node, ast.Name) and node.id == "read_truth") or (
            isinstance(node, ast.Attribute) and node.attr == "read_truth"
        )
        file_name = (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _TRUTH_FILE.search(node.value.strip()) is not None
        )
        if imports or names or file_name:
            lines.append(getattr(node, "lineno", 0))
    return sorted(set(lines))


def test_auc_helper_matches_known_values() -> None:
    assert _auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert _auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 0.75
    assert _auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5


def test_truth_scanner_catches_reads_and_ignores_prose() -> None:
    assert _truth_reads("from simulator import read_truth\n") == [1]
    assert _truth_reads("import simulator as s\nt = s.read_truth(d)\n") == [2]
    assert _truth_reads("from simulator.history import read_truth\n") == [1]
    assert _truth_reads("p = d / 'truth.parquet'\n") == [1]
    assert _truth_reads("p = d / f'truth.{ext}'\n") == [1]
    assert _truth_reads("p = 'data/truth.csv'\n") == [1]
    assert _truth_reads('"""Never read truth.parquet here."""\n# read_truth is banned\nx = 1\n') == []
    assert _truth_reads("from training.evaluate import read_truth_for\n") == []


def test_truth_is_read_only_by_training_evaluate() -> None:
    offenders: list[str] = []
    # The simulator itself writes and reads truth; every package of the product must not (model/: once it exists).
    for package in ("features", "handoff", "training", "serving", "model"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in _ALLOWED:
                continue
            lines = _truth_reads(path.read_text(encoding="utf-8"))
            offenders.extend(f"{rel}:{line}" for line in lines)
    assert not offenders, f"only training/evaluate.py may read the simulator's truth; found: {offenders}"


def test_drift_makes_the_type_say_nothing_about_intent_and_keeps_the_past() -> None:
    from simulator import Drift, simulate

    plain = simulate(n_leads=6000, seed=4, months=12)
    drifted = simulate(n_leads=6000, seed=4, months=12, drift=Drift(months=4))
    start = pd.Timestamp("2026-06-01")
    # The leads themselves (arrivals, firmographics, outcomes) before the drift are those of the plain world (their
    # ids may differ: ids follow creation order, and drifted leads are created among them).
    before = plain.leads[c.DECIDED_AT] < start

    def pre_drift(leads: pd.DataFrame) -> pd.DataFrame:
        early = leads.loc[leads[c.DECIDED_AT] < start].drop(columns=[c.LEAD_ID])
        return early.sort_values([c.DECIDED_AT, c.CREATED_AT]).reset_index(drop=True)

    pd.testing.assert_frame_equal(pre_drift(plain.leads), pre_drift(drifted.leads))
    late = drifted.leads.loc[drifted.leads[c.DECIDED_AT] >= start, c.LEAD_ID]
    docs = drifted.events[drifted.events[c.EVENT_TYPE] == "tech_doc_download"]
    per_lead = docs.groupby(c.EVENT_LEAD_ID).size().reindex(late, fill_value=0)
    p = drifted.truth.set_index(c.LEAD_ID).loc[late, "p_close"]
    # Before: documents follow intent (hot leads read more); after: no relation.
    early = plain.leads.loc[before, c.LEAD_ID]
    plain_docs = plain.events[plain.events[c.EVENT_TYPE] == "tech_doc_download"]
    early_count = plain_docs.groupby(c.EVENT_LEAD_ID).size().reindex(early, fill_value=0)
    early_p = plain.truth.set_index(c.LEAD_ID).loc[early, "p_close"]
    assert np.corrcoef(early_count, early_p)[0, 1] > 0.3
    assert abs(np.corrcoef(per_lead, p)[0, 1]) < 0.1
    assert per_lead.mean() == pytest.approx(6.0, rel=0.2)


def test_as_of_shows_only_what_was_known_then(history: SimulatedHistory) -> None:
    from simulator import as_of

    when = pd.Timestamp("2026-05-01")
    past = as_of(history, when)
    assert (past.leads[c.DECIDED_AT] < when).all() and (past.events[c.TS] < when).all()
    closed = past.leads[c.OUTCOME].notna()
    assert (past.leads.loc[closed, c.CLOSED_AT] <= when).all()
    assert past.leads.loc[~closed, [c.CLOSED_AT, c.SALES_HOURS]].isna().all().all()
    later = history.leads.set_index(c.LEAD_ID).loc[past.leads.loc[~closed, c.LEAD_ID]]
    assert (later[c.CLOSED_AT].isna() | (later[c.CLOSED_AT] > when)).all()
    assert set(past.truth[c.LEAD_ID]) == set(past.leads[c.LEAD_ID])
