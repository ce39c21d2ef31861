"""Per-prediction contributions (TreeSHAP) of a LightGBM booster, asked of LightGBM once per decision pattern.

LightGBM's TreeSHAP (`Tree::TreeSHAP`) walks every node of a tree for every row and reads the row only through
the decision, left or right, taken at each internal node; the rest is the tree's structure, counts and leaf
values. A tree of 7 leaves has 6 internal nodes, so at most 64 decision patterns, and the 10,000 leads of a big
request share them. So, tree by tree: the pattern of every row, LightGBM's contributions of that tree alone for
one representative row per pattern, and those copied to every row of the pattern, into the columns the tree
splits on. The bias column gets each tree's expected value, the same for every row. The result is LightGBM's
`pred_contrib` up to the order of the additions (about 1e-16).

The decisions replicate LightGBM 4.x (`include/LightGBM/tree.h`, `NumericalDecision` and `CategoricalDecision`),
after its dense-matrix reader (`RowPairFunctionFromDenseMatric` in `src/c_api.cpp`) has read every value with
|x| <= kZeroThreshold as 0. Per feature, a value falls in one of a few classes that every split on the feature
treats alike (between two neighbouring thresholds, zero, NaN; or one category code), and per tree a table maps
each class to the bits of the tree's splits on that feature, so a row's pattern is a sum of table lookups.

It is a private detail of `LeadModel.predict` for big batches. `PatternContributions.mismatch` compares leaves
and contributions with LightGBM's own on a matrix that puts every split's edge cases (the threshold and its
neighbouring doubles, 0, tiny values, NaN, negative values, every category and unknown codes) in front of both;
the test suite runs it on edge-case boosters and on trained models, against the LightGBM that uv.lock pins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

log = logging.getLogger(__name__)

# LightGBM's kZeroThreshold is declared `const double kZeroThreshold = 1e-35f`: a float literal widened to double,
# a hair above the double 1e-35.
K_ZERO: Final = float(np.float32(1e-35))
# A pattern holds a row's decisions at a tree's internal nodes as the bits of one int64.
_MAX_NODES: Final = 62
# Up to this many internal nodes a tree's patterns are grouped through a table of all 2**nodes of them (no sort).
_TABLE_NODES: Final = 12
# A categorical split is a table with an entry per category code; larger codes are left to LightGBM.
_MAX_CATEGORY: Final = 1 << 16
_MISSING_TYPES: Final = {"None": 0, "Zero": 1, "NaN": 2}
_PARITY_ATOL: Final = 1e-9
_PROBE_ROWS: Final = 2048


class UnsupportedBooster(ValueError):
    """The booster has something the pattern path does not replicate (LightGBM's `pred_contrib` it is)."""


@dataclass(frozen=True)
class _Node:
    index: int  # LightGBM's split_index within the tree: the node's bit in the tree's pattern
    feature: int
    threshold: float  # NaN at a categorical split
    missing: int  # 0 None, 1 Zero, 2 NaN
    default_left: bool
    categories: np.ndarray | None  # the category codes that go left (categorical split)
    left: int  # child: a node's split_index, or ~leaf_index
    right: int


@dataclass(frozen=True)
class _Feature:
    """How a feature's values fall into classes that all of its splits treat alike."""

    column: int
    thresholds: np.ndarray | None  # numerical: the distinct thresholds, sorted; None: categorical
    n_classes: int

    def classes(self, x: np.ndarray) -> np.ndarray:
        if self.thresholds is None:
            # Category codes 0 .. n-2 as themselves; NaN, negative and larger codes in the last class ("right").
            # static_cast<int> truncates towards 0, so (-1, 0) reads as category 0.
            last = self.n_classes - 1
            return np.where((x > -1.0) & (x < last), x, last).astype(np.intp)
        # Numerical: how many thresholds lie below the value (0 .. m), then m + 1 for zero and m + 2 for NaN.
        m = len(self.thresholds)
        out = np.searchsorted(self.thresholds, x)
        out[np.abs(x) <= K_ZERO] = m + 1
        out[np.isnan(x)] = m + 2
        return out

    def goes_left(self, node: _Node) -> np.ndarray:
        """Per class: whether `node` (a split on this feature) sends it left."""
        if self.thresholds is None:
            assert node.categories is not None
            out = np.zeros(self.n_classes, dtype=bool)
            out[node.categories] = True
            out[-1] = False
            return out
        m = len(self.thresholds)
        i = int(np.searchsorted(self.thresholds, node.threshold))
        out = np.arange(m + 3) <= i  # x <= thresholds[i] exactly when fewer than i + 1 thresholds lie below x
        # Zero is compared as 0.0 unless zero is the split's missing value; NaN reads as 0.0 unless NaN is
        # (and NaN read as 0.0 is a missing zero).
        as_zero = bool(node.threshold >= 0.0)
        out[m + 1] = node.default_left if node.missing == 1 else as_zero
        out[m + 2] = node.default_left if node.missing in (1, 2) else as_zero
        return out


@dataclass(frozen=True)
class _TreePlan:
    """What one tree needs to compute its rows' patterns and write their contributions."""

    bits: int  # internal nodes
    features: list[tuple[int, np.ndarray]]  # (position among the used features, class -> pattern bits)
    columns: np.ndarray  # the features the tree splits on


class PatternContributions:
    """`booster.predict(X, pred_contrib=True)` for a single-output tree booster, from one LightGBM call per tree
    on one row per decision pattern. Immutable after construction, so safe to share between threads."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.iterations = _iterations(booster)
        dump = booster.dump_model(num_iteration=self.iterations)
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise UnsupportedBooster(f"{dump['num_tree_per_iteration']} trees per iteration (multiclass)")
        if dump.get("average_output"):
            raise UnsupportedBooster("averaged output (random forest)")
        if str(booster.params.get("linear_tree", False)).lower() in ("true", "1"):
            raise UnsupportedBooster("linear trees")
        self.n_features = int(dump["max_feature_idx"]) + 1
        infos = dump["tree_info"]
        if len(infos) != self.iterations:
            raise UnsupportedBooster(f"the dump has {len(infos)} trees for {self.iterations} iterations")
        self.trees = [_parse_tree(t, info) for t, info in enumerate(infos)]
        nodes = [node for tree in self.trees for node in tree]
        if any(not 0 <= node.feature < self.n_features for node in nodes):
            raise UnsupportedBooster("a split on a feature the booster does not have")
        self.features = _features(nodes)
        self._position = {f.column: k for k, f in enumerate(self.features)}
        self._used = np.array([f.column for f in self.features], dtype=np.intp)
        self._plans = [self._plan(tree) for tree in self.trees]

    def _plan(self, tree: list[_Node]) -> _TreePlan:
        tables: dict[int, np.ndarray] = {}
        for node in tree:
            k = self._position[node.feature]
            feature = self.features[k]
            table = tables.setdefault(k, np.zeros(feature.n_classes, dtype=np.int64))
            table += feature.goes_left(node).astype(np.int64) << node.index
        columns = np.array(sorted({node.feature for node in tree}), dtype=np.intp)
        return _TreePlan(len(tree), sorted(tables.items()), columns)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Rows x (features + bias) contributions, as `booster.predict(X, pred_contrib=True)`."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix of {self.n_features} columns, got shape {X.shape}")
        n = len(X)
        out = np.zeros((self.n_features + 1, n), dtype=np.float64)  # one row per column: a tree adds to rows
        if n == 0:
            return out.T
        classes = self._classes(X)
        bias = 0.0
        for t, plan in enumerate(self._plans):
            patterns = np.zeros(n, dtype=np.int64)
            for k, table in plan.features:
                patterns += table[classes[k]]
            reps, lookup, index = _groups(patterns, plan.bits)
            tree_contrib = np.asarray(
                self.booster.predict(X[reps], start_iteration=t, num_iteration=1, pred_contrib=True, num_threads=1),
                dtype=np.float64,
            )
            # The bias column holds the tree's expected value, whatever the row: added once, in LightGBM's order.
            bias += float(tree_contrib[0, -1])
            values = lookup(tree_contrib[:, plan.columns])
            for j, column in enumerate(plan.columns.tolist()):
                out[column] += values[j][index]
        out[-1] = bias
        return out.T

    def _classes(self, X: np.ndarray) -> list[np.ndarray]:
        values = X[:, self._used].T.copy()  # one contiguous row per feature any tree splits on
        return [feature.classes(values[k]) for k, feature in enumerate(self.features)]

    # --- the check against LightGBM --------------------------------------------------------------------------

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Rows x trees: the leaf the replicated decisions lead to (what `pred_leaf=True` gives)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        classes = self._classes(X)
        rows = np.arange(len(X))
        out = np.zeros((len(X), len(self.trees)), dtype=np.int64)
        for t, tree in enumerate(self.trees):
            if not tree:
                continue
            by_index = {node.index: node for node in tree}
            # Per node and row: left or not, through the same class tables the patterns use.
            left = np.array(
                [
                    self.features[self._position[node.feature]].goes_left(node)[classes[self._position[node.feature]]]
                    for node in sorted(tree, key=lambda node: node.index)
                ]
            )
            children = np.array([[by_index[k].left, by_index[k].right] for k in range(len(tree))], dtype=np.int64)
            node_at = np.zeros(len(X), dtype=np.int64)
            while (inner := node_at >= 0).any():
                at = node_at[inner]
                node_at[inner] = np.where(left[at, rows[inner]], children[at, 0], children[at, 1])
            out[:, t] = ~node_at
        return out

    def probe_matrix(self, rows: int = _PROBE_ROWS, seed: int = 0) -> np.ndarray:
        """Rows that put every split's edge cases in front of the trees, each column shuffled on its own so that
        many rows share a pattern (a wrong decision then shows as a row given another pattern's contributions)."""
        rng = np.random.default_rng(seed)
        candidates = {f.column: _candidates(f) for f in self.features}
        rows = max(rows, 4 * max((len(v) for v in candidates.values()), default=1))
        X = np.zeros((rows, self.n_features), dtype=np.float64)
        for column, values in candidates.items():
            X[:, column] = rng.permutation(np.resize(values, rows))
        return X

    def mismatch(self, X: np.ndarray | None = None) -> str | None:
        """How the pattern path differs from LightGBM on `X` (default: the probe matrix), or None."""
        X = self.probe_matrix() if X is None else np.ascontiguousarray(X, dtype=np.float64)
        expected_leaves = np.asarray(self.booster.predict(X, num_iteration=self.iterations, pred_leaf=True))
        leaves = self.leaves(X)
        if expected_leaves.shape != leaves.shape:
            return f"gives leaves of shape {leaves.shape}, LightGBM {expected_leaves.shape}"
        if not np.array_equal(expected_leaves, leaves):
            bad = np.argwhere(expected_leaves != leaves)[:3].tolist()
            return f"sends rows to other leaves than LightGBM does (row, tree: {bad})"
        expected = np.asarray(self.booster.predict(X, num_iteration=self.iterations, pred_contrib=True))
        got = self(X)
        if expected.shape != got.shape:
            return f"gives contributions of shape {got.shape}, LightGBM {expected.shape}"
        worst = float(np.max(np.abs(got - expected), initial=0.0))
        if not worst <= _PARITY_ATOL:  # NaN included
            return f"differs from LightGBM's pred_contrib by up to {worst:.3g}"
        return None


def _iterations(booster: Any) -> int:
    """The iterations `booster.predict` uses when not told (the best one, if early stopping recorded it)."""
    best = int(getattr(booster, "best_iteration", -1) or -1)
    return best if best > 0 else int(booster.current_iteration())


def _parse_tree(t: int, info: dict[str, Any]) -> list[_Node]:
    n_nodes = int(info["num_leaves"]) - 1
    if n_nodes > _MAX_NODES:
        raise UnsupportedBooster(f"a tree of {n_nodes + 1} leaves (at most {_MAX_NODES + 1})")
    nodes: list[_Node] = []
    stack = [info["tree_structure"]] if n_nodes > 0 else []
    while stack:
        node = stack.pop()
        if node.get("missing_type") not in _MISSING_TYPES:
            raise UnsupportedBooster(f"missing type {node.get('missing_type')!r}")
        categories = None
        threshold = float("nan")
        if node["decision_type"] == "<=":
            threshold = float(node["threshold"])
            # The dump writes NaN as 0 and infinities as +-1e300 (`AvoidInf`): such a threshold is not the tree's.
            if not abs(threshold) < 1e300:
                raise UnsupportedBooster(f"a threshold of {threshold}")
        elif node["decision_type"] == "==":
            text = str(node["threshold"])
            categories = np.array([int(c) for c in text.split("||")] if text else [], dtype=np.intp)
            if not len(categories) or categories.min() < 0 or categories.max() >= _MAX_CATEGORY - 1:
                raise UnsupportedBooster(f"a categorical split on {text!r}")
        else:
            raise UnsupportedBooster(f"decision type {node['decision_type']!r}")
        children = []
        for child in (node["left_child"], node["right_child"]):
            if "split_index" in child:
                children.append(int(child["split_index"]))
                stack.append(child)
            elif "leaf_coeff" in child or "leaf_features" in child:
                raise UnsupportedBooster("linear trees")
            else:
                children.append(~int(child["leaf_index"]))
        nodes.append(
            _Node(
                index=int(node["split_index"]),
                feature=int(node["split_feature"]),
                threshold=threshold,
                missing=_MISSING_TYPES[node["missing_type"]],
                default_left=bool(node["default_left"]),
                categories=categories,
                left=children[0],
                right=children[1],
            )
        )
    if sorted(node.index for node in nodes) != list(range(n_nodes)):
        raise UnsupportedBooster(f"tree {t} does not number its {n_nodes} internal nodes 0 .. {n_nodes - 1}")
    return nodes


def _features(nodes: list[_Node]) -> list[_Feature]:
    by_column: dict[int, list[_Node]] = {}
    for node in nodes:
        by_column.setdefault(node.feature, []).append(node)
    features = []
    for column, splits in sorted(by_column.items()):
        categorical = [node.categories is not None for node in splits]
        if all(categorical):
            codes = [int(node.categories.max()) for node in splits if node.categories is not None]
            top = max(codes, default=-1)
            features.append(_Feature(column, None, top + 2))
        elif not any(categorical):
            thresholds = np.unique(np.array([node.threshold for node in splits]))
            features.append(_Feature(column, thresholds, len(thresholds) + 3))
        else:
            raise UnsupportedBooster(f"feature {column} has both numerical and categorical splits")
    return features


def _groups(patterns: np.ndarray, bits: int) -> tuple[np.ndarray, Any, np.ndarray]:
    """One row per distinct pattern; a function that turns their per-pattern values (patterns x k) into a
    table (k x entries); and per row its entry in that table."""
    if bits <= _TABLE_NODES:
        # Any row of a pattern represents it, so it does not matter which of the repeated writes lands.
        row_of = np.full(1 << bits, -1, dtype=np.intp)
        row_of[patterns] = np.arange(len(patterns))
        present = np.flatnonzero(row_of >= 0)

        def table(values: np.ndarray) -> np.ndarray:
            out = np.zeros((values.shape[1], 1 << bits), dtype=np.float64)
            out[:, present] = values.T
            return out

        return row_of[present], table, patterns
    _, reps, inverse = np.unique(patterns, return_index=True, return_inverse=True)
    return reps, lambda values: np.ascontiguousarray(values.T), inverse.ravel()


def _candidates(feature: _Feature) -> np.ndarray:
    """Values that exercise every split on `feature`: at, just below and just above each threshold; zero and
    the tiny values LightGBM reads as zero; NaN and infinities; each category, its fractions, unknown codes."""
    values = [0.0, -0.0, np.nan, K_ZERO, -K_ZERO, np.nextafter(K_ZERO, 1.0), -np.nextafter(K_ZERO, 1.0)]
    values += [1e-300, -1e-300, -1.0, -0.5, 0.5, 1.0, 1e30, -1e30, np.inf, -np.inf]
    if feature.thresholds is None:
        codes = np.arange(feature.n_classes + 1, dtype=np.float64)  # all known codes, then unknown ones
        values += [*codes, *(codes + 0.5), *(codes - 0.5), 31.0, 32.0, 63.0, 64.0, 2.0**31, -(2.0**31) - 1.0]
    else:
        for thr in feature.thresholds.tolist():
            values += [thr, float(np.nextafter(thr, -np.inf)), float(np.nextafter(thr, np.inf))]
    return np.array(values, dtype=np.float64)
