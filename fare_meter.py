"""A fare as the taxi meter makes it: a line in the distance, plus what trees learn of the rest.

A yellow-cab fare is mostly a flag drop plus a rate per mile (2019: $2.50 and $2.50 a mile), then
waiting time, flat airport fares and the like. Gradient-boosted trees approximate the line with
steps, so `MeteredFareRegressor` fits the line itself (least absolute deviations, as the model is
judged by MAE) and gives the trees only the residual: the time, the route and the flat fares.
Measured on the 2019 files (train two months, judge the next; the shipped search, before -> after):
MAE with zones 0.879 -> 0.843 x the plain GBR's (January-February -> March), 0.901 -> 0.843 x
(June), 0.932 -> 0.888 x (September), 0.829 -> 0.795 x (December); without zones $1.406 -> $1.375,
$1.667 -> $1.625, $1.803 -> $1.790, $1.825 -> $1.801. And a trip longer than any in the training
window is priced by the meter, where trees alone stop at the longest trip they saw.

Why a top-level module beside the fare_assets package: a registered model's pickle names this class,
so the model carries this one file as its MLflow code path, and Databricks Model Serving, which
installs only the model's pip requirements, loads it (tasks/train_model.py `model_code_paths`).
MLflow puts a model's code path first on sys.path when it loads the model, for the rest of the
process; a copy of `fare_assets` there would shadow the installed package in every Spark Python
worker that later runs one of our UDFs (its other modules missing, or of another version). A name
of its own shadows nothing. Self-contained: numpy and scikit-learn only.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, TargetEncoder

# The line is fitted on at most this many rows: two parameters need no more, and fitting stays
# cheap on millions of trips.
LINE_ROWS = 200_000
LINE_ITERATIONS = 50
# From this many rows (a batch, not a request) the trees predict from binned inputs: trees_predict.
BINNED_PREDICT_ROWS = 10_000
CHECK_ROWS = 2_000  # a batch's first rows, predicted both ways and compared


def least_absolute_line(x: np.ndarray, y: np.ndarray, iterations: int = LINE_ITERATIONS) -> tuple[float, float]:
    """Intercept and slope minimising the mean absolute error, by iteratively reweighted least
    squares (each residual weighted by 1/|residual|, floored at one cent so exact fits stay finite)."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    for _ in range(iterations):
        root_weight = 1.0 / np.sqrt(np.maximum(np.abs(y - design @ beta), 0.01))
        previous, beta = beta, np.linalg.lstsq(design * root_weight[:, None], y * root_weight, rcond=None)[0]
        if np.allclose(beta, previous, rtol=0, atol=1e-5):
            break
    return float(beta[0]), float(beta[1])


class MeteredFareRegressor(RegressorMixin, BaseEstimator):
    """`flag_drop_ + per_mile_ * distance + regressor(X)`: the line fitted on the fares, the
    regressor (a clone of `regressor`) on what the line leaves. X is positional, as the regressor
    takes it; `distance_index` is the trip distance's column."""

    def __init__(self, regressor=None, distance_index: int = 0, random_state: int = 0):
        self.regressor = regressor
        self.distance_index = distance_index
        self.random_state = random_state

    def fit(self, X, y):
        distance, y = self._distance(X), np.asarray(y, dtype="float64")
        sample = slice(None)
        if len(y) > LINE_ROWS:
            sample = np.random.default_rng([self.random_state, len(y)]).choice(len(y), LINE_ROWS, replace=False)
        self.flag_drop_, self.per_mile_ = least_absolute_line(distance[sample], y[sample])
        # What the line leaves, computed in place: millions of rows (with their twins) need one
        # array beside X, not three.
        residual = np.array(distance)  # a copy: `distance` may be a view of X
        residual *= -self.per_mile_
        residual += y
        residual -= self.flag_drop_
        self.regressor_ = clone(self.regressor).fit(X, residual)
        self.n_features_in_ = self.regressor_.n_features_in_
        return self

    def predict(self, X):
        return self.line(self._distance(X)) + trees_predict(self.regressor_, X)

    def line(self, distance: np.ndarray) -> np.ndarray:
        return self.flag_drop_ + self.per_mile_ * distance

    def _distance(self, X) -> np.ndarray:
        column = X.iloc[:, self.distance_index] if hasattr(X, "iloc") else np.asarray(X)[:, self.distance_index]
        return np.asarray(column, dtype="float64")


def trees_predict(regressor, X) -> np.ndarray:
    """`regressor.predict(X)`, the same values, faster for a batch when the regressor is a pipeline
    ending in a HistGradientBoostingRegressor: its inputs are binned once (one byte per value, as
    in training), and the trees are evaluated on the bins (walk_binned) instead of comparing
    floats. scikit-learn itself predicts from bins during fit (`_raw_predict` with `_in_fit`); its
    public predict walks the raw values, one tree at a time over all rows, and here only checks the
    first rows. With column_transform below, measured on 4.58M trips of the zone model
    (benchmarks/scale.py at 5M, 2 threads): predict 37.8 s -> 21.5 s with scikit-learn's binned
    walk, -> 8.6 s with walk_binned's leaf masks, the values bit for bit the same
    (fare_assets_tests/ml/test_meter_line.py). The internals used are those of the scikit-learn the
    model was saved with (its MLflow requirements pin it); where they are missing or differ, the
    public path runs."""
    steps = getattr(regressor, "steps", None)
    if len(X) < BINNED_PREDICT_ROWS or not steps or not isinstance(steps[-1][1], HistGradientBoostingRegressor):
        return regressor.predict(X)
    gbm = steps[-1][1]
    if gbm.n_trees_per_iteration_ != 1:
        return regressor.predict(X)
    try:
        predictions = _binned_predict(steps, gbm, X)
    except Exception:  # inputs the fast path does not take (named columns, sparse output): the public path
        return regressor.predict(X)
    # Checked against the public predict on the first rows: another scikit-learn whose internals
    # look the same but walk or encode differently gets the public path, not different fares.
    first = np.asarray(X.iloc[:CHECK_ROWS] if hasattr(X, "iloc") else X[:CHECK_ROWS])  # positional, as fitted
    if not np.array_equal(regressor.predict(first), predictions[:CHECK_ROWS]):
        return regressor.predict(X)
    return predictions


def _binned_predict(steps, gbm, X) -> np.ndarray:
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    inputs = X
    for _, step in steps[:-1]:
        inputs = column_transform(step, inputs)
    # As predict does: validated, the categorical columns (if any) encoded and put first.
    preprocessor = gbm._preprocessor
    inputs = column_transform(preprocessor, inputs) if preprocessor is not None else gbm._preprocess_X(inputs, reset=False)
    # Its categorical columns come out of an OrdinalEncoder that makes an unseen category NaN, so it
    # takes the missing values' branch in the bins as in the raw walk.
    mapper = gbm._bin_mapper
    binned = mapper.transform(inputs)
    raw = walk_binned([tree for (tree,) in gbm._predictors], binned, mapper.missing_values_bin_idx_,
                      gbm._baseline_prediction.ravel()[0], _openmp_effective_n_threads())
    return gbm._loss.link.inverse(raw)


def walk_binned(trees, binned: np.ndarray, missing_bin: int, baseline: float, n_threads: int) -> np.ndarray:
    """`baseline + sum(tree.predict_binned(binned) for tree in trees)`, the same values, by leaf
    masks instead of a walk down each tree (QuickScorer: Lucchese et al., SIGIR 2015). A split that
    sends a row right rules out the leaves of its left subtree; with the leaves numbered left to
    right, a row's exit leaf is the leftmost one that no split sending it right rules out, on its
    path or not (the paper's theorem). So for each feature a tree splits on and each of its 256
    bins, one 64-bit mask holds the leaves that bin leaves possible (`_LeafMasks`), and a row's
    exit leaf is the lowest bit of the AND of its features' masks: a few vectorized table lookups
    per tree, no branch per node. Rows go in blocks that stay in the cache, on `n_threads` threads
    (numpy lets go of the GIL in these loops).
    Measured on 4.58M trips of the zone model (150 trees of up to 63 leaves, 2 threads): 19.2 s
    with scikit-learn's binned walk, 4.4 s here, bit for bit the same
    (fare_assets_tests/ml/test_meter_line.py). A tree of more than 64 leaves is walked by
    scikit-learn, in its place in the sum."""
    from concurrent.futures import ThreadPoolExecutor

    masks = [_leaf_masks(tree, missing_bin) for tree in trees]
    columns = [binned[:, feature] for feature in range(binned.shape[1])]  # contiguous: bins come in F order
    raw = np.empty(len(binned), dtype=np.float64)

    def block(start: int) -> None:
        stop = min(start + WALK_BLOCK_ROWS, len(binned))
        sums = np.full(stop - start, baseline, dtype=np.float64)
        rows = [column[start:stop] for column in columns]
        alive, ruled_in = np.empty(stop - start, dtype=np.uint64), np.empty(stop - start, dtype=np.uint64)
        for tree, tree_masks in zip(trees, masks):
            if tree_masks is None:
                sums += tree.predict_binned(binned[start:stop], missing_values_bin_idx=missing_bin, n_threads=1)
                continue
            alive.fill(_ALL_LEAVES)
            for feature, table in tree_masks.by_feature:
                np.take(table, rows[feature], out=ruled_in)
                alive &= ruled_in
            np.negative(alive, out=ruled_in)  # two's complement: alive & -alive keeps the lowest bit
            alive &= ruled_in
            alive *= _DE_BRUIJN  # wraps, as intended: the top 6 bits then name the bit
            alive >>= np.uint64(58)
            sums += tree_masks.value_by_slot[alive]
        raw[start:stop] = sums

    starts = range(0, len(binned), WALK_BLOCK_ROWS)
    if n_threads <= 1 or len(starts) == 1:
        for start in starts:
            block(start)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(block, starts))
    return raw


WALK_BLOCK_ROWS = 1 << 17  # measured at 4.58M rows: 2**16 4.7 s, 2**17 4.4 s, 2**18 4.8 s, 2**19 6.5 s
_ALL_LEAVES = np.uint64(2**64 - 1)
# A de Bruijn sequence: for x = 2**k (k < 64), (x * _DE_BRUIJN mod 2**64) >> 58 differs for each k.
_DE_BRUIJN_INT = 0x03F79D71B4CB0A89
_DE_BRUIJN = np.uint64(_DE_BRUIJN_INT)
_SLOT_OF_BIT = [((1 << k) * _DE_BRUIJN_INT % 2**64) >> 58 for k in range(64)]


class _LeafMasks(NamedTuple):
    """For one tree: per feature it splits on, the 256-entry table bin -> leaves still possible;
    and each leaf's value, placed in the slot its lowest bit points to."""

    by_feature: list[tuple[int, np.ndarray]]
    value_by_slot: np.ndarray


_MASKS_BY_TREE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a fitted tree -> its masks


def _leaf_masks(tree, missing_bin: int) -> _LeafMasks | None:
    """The tree's masks, made once per fitted tree; None for a tree of more than 64 leaves."""
    made = _MASKS_BY_TREE.setdefault(tree, {})
    if missing_bin not in made:
        made[missing_bin] = _make_leaf_masks(tree.nodes, tree.binned_left_cat_bitsets, missing_bin)
    return made[missing_bin]


def _make_leaf_masks(nodes, left_category_bitsets, missing_bin: int) -> _LeafMasks | None:
    if int(nodes["is_leaf"].sum()) > 64:
        return None
    leaves: list[int] = []
    splits: list[tuple[int, int, int]] = []  # (node, its left subtree's first leaf, its right's first)

    def number(node: int) -> None:  # depth first, left before right: leaves numbered left to right
        if nodes[node]["is_leaf"]:
            leaves.append(node)
            return
        first = len(leaves)
        number(int(nodes[node]["left"]))
        splits.append((node, first, len(leaves)))
        number(int(nodes[node]["right"]))

    number(0)
    bins = np.arange(256)
    tables: dict[int, np.ndarray] = {}
    for node, first, right_first in splits:
        split = nodes[node]
        # Where the bin goes, as _predict_one_from_binned_data decides it (scikit-learn _predictor.pyx).
        if split["is_categorical"]:
            words = left_category_bitsets[split["bitset_idx"]]
            goes_left = (words[bins // 32] >> (bins % 32).astype(words.dtype)) & 1 == 1
        else:
            goes_left = bins <= split["bin_threshold"]
        goes_left[missing_bin] = bool(split["missing_go_to_left"])
        left_subtree = ((1 << (right_first - first)) - 1) << first
        table = tables.setdefault(int(split["feature_idx"]), np.full(256, _ALL_LEAVES, dtype=np.uint64))
        table[~goes_left] &= np.uint64(2**64 - 1 - left_subtree)
    value_by_slot = np.zeros(64, dtype=np.float64)
    value_by_slot[[_SLOT_OF_BIT[k] for k in range(len(leaves))]] = nodes["value"][leaves]
    return _LeafMasks(sorted(tables.items()), value_by_slot)


# Encoders whose output for a row depends on that row's values alone (once fitted), and whose
# transform sorts its whole input (scikit-learn checks every value against the known categories);
# and the functions of a FunctionTransformer known to work row by row (the zone pair's np.dot).
_ROW_WISE = (OrdinalEncoder, TargetEncoder)
_ROW_WISE_FUNCTIONS = (np.dot,)
DISTINCT_ROWS_COLUMNS = 2
DISTINCT_KEYS = 2**24  # codes of a block's row make one integer below this, or the block is transformed as is


def column_transform(transformer, X):
    """`transformer.transform(X)`, the same values; for a dense ColumnTransformer, each encoder of
    at most two columns of codes (the zones, the zone pair) transforms the distinct rows of its
    columns once, and its output is spread back: a zone pair recurs thousands of times in a batch.
    The output is filled one transformer at a time (where `output_indices_` puts it), so a batch
    costs one copy of its columns beside the input, no more."""
    if not isinstance(transformer, ColumnTransformer):
        return transformer.transform(X)
    values = np.asarray(X)
    places = transformer.output_indices_
    result = np.empty((len(values), max(place.stop for place in places.values())), dtype="float64")
    distinct_by_columns = {}
    for name, step, columns in transformer.transformers_:
        place, indices = places[name], np.arange(values.shape[1])[columns]
        if place.stop == place.start:  # dropped, or no columns
            continue
        if isinstance(step, str):  # "passthrough"
            result[:, place] = values[:, indices]
            continue
        block = values[:, indices]
        if len(indices) <= DISTINCT_ROWS_COLUMNS and _row_wise(step):
            if tuple(indices) not in distinct_by_columns:
                distinct_by_columns[tuple(indices)] = _distinct_rows(block)
            distinct, inverse = distinct_by_columns[tuple(indices)]
            if distinct is not None:
                encoded = np.asarray(step.transform(distinct), dtype="float64").reshape(len(distinct), -1)
                result[:, place] = encoded[inverse]
                continue
        result[:, place] = np.asarray(step.transform(block), dtype="float64").reshape(len(block), -1)
    return result


def _row_wise(step) -> bool:
    if hasattr(step, "steps"):
        return all(_row_wise(inner) for _, inner in step.steps)
    if isinstance(step, FunctionTransformer):
        return any(step.func is function for function in _ROW_WISE_FUNCTIONS)
    return isinstance(step, _ROW_WISE)


def _distinct_rows(block: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The distinct rows of a block of codes (whole numbers from 0 below 2**16, or NaN) and each
    row's index among them; (None, None) for other values. Without a sort: a row's codes make one
    integer below DISTINCT_KEYS, and a table of which integers occur numbers them in order."""
    if block.dtype.kind != "f":
        return None, None
    finite = block[~np.isnan(block)]
    if finite.size and (finite.min() < 0 or finite.max() >= 2**16 or not np.array_equal(finite, np.floor(finite))):
        return None, None
    # Each column's codes 0..top, and NaN as top + 1.
    sizes = [int(np.nanmax(column)) + 2 if not np.isnan(column).all() else 1 for column in block.T]
    if np.prod(sizes, dtype=np.float64) > DISTINCT_KEYS:
        return None, None
    key = np.zeros(len(block), dtype=np.int64)
    for column, size in zip(block.T, sizes):
        key = key * size + np.where(np.isnan(column), size - 1, column).astype(np.int64)
    present = np.zeros(int(np.prod(sizes)), dtype=bool)
    present[key] = True
    keys = np.flatnonzero(present)
    inverse = (np.cumsum(present) - 1)[key]
    distinct = np.empty((len(keys), block.shape[1]), dtype=block.dtype)
    for i in reversed(range(block.shape[1])):  # the key's digits, last column first
        keys, codes = np.divmod(keys, sizes[i])
        distinct[:, i] = np.where(codes == sizes[i] - 1, np.nan, codes)
    return distinct, inverse
