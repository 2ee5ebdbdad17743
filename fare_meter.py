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
    in training), and each tree walks the bins instead of comparing floats. scikit-learn itself
    predicts this way during fit (`_raw_predict` with `_in_fit`); its public predict walks the raw
    values, one tree at a time over all rows, and here only checks the first rows. With
    column_transform below, measured on 4.58M trips of the zone model (benchmarks/scale.py at 5M,
    2 threads): predict 37.8 s -> 21.5 s, the values bit for bit the same
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
    n_threads = _openmp_effective_n_threads()
    raw = np.zeros(len(inputs), dtype=gbm._baseline_prediction.dtype)
    raw += gbm._baseline_prediction.ravel()[0]
    for (tree,) in gbm._predictors:
        raw += tree.predict_binned(binned, missing_values_bin_idx=mapper.missing_values_bin_idx_, n_threads=n_threads)
    return gbm._loss.link.inverse(raw)


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
