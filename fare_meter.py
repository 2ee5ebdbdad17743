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

# The line is fitted on at most this many rows: two parameters need no more, and fitting stays
# cheap on millions of trips.
LINE_ROWS = 200_000
LINE_ITERATIONS = 50


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
        return self.line(self._distance(X)) + self.regressor_.predict(X)

    def line(self, distance: np.ndarray) -> np.ndarray:
        return self.flag_drop_ + self.per_mile_ * distance

    def _distance(self, X) -> np.ndarray:
        column = X.iloc[:, self.distance_index] if hasattr(X, "iloc") else np.asarray(X)[:, self.distance_index]
        return np.asarray(column, dtype="float64")
