"""Model search with time-ordered validation, and the model's shape.

The model takes the full six-field request contract but learns from five fields: pickup_month
is accepted and ignored. Within a 60-day window it holds one or two values, so it can only learn
the quirks of those months and extrapolate them to months it never saw (measured on 2019 TLC
data, Jan-Feb -> Mar: MAE 1.405 with it, 1.409 without: no gain, and a risk across regimes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from fare_assets.ml.evaluation import regression_metrics

IGNORED_FEATURES = frozenset({"pickup_month"})
# Absolute-error loss fits the metric we judge by (MAE) and shrugs off odd fares; the
# grid is small on purpose: tuning buys about $0.05 on this problem (MISSION.md).
SEARCH_SPACE = [
    {"learning_rate": lr, "max_leaf_nodes": leaves, "min_samples_leaf": leaf}
    for lr in (0.05, 0.1)
    for leaves in (15, 31, 63)
    for leaf in (20, 80)
]
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
TRIALS = 6
MAX_ITER = 300


@dataclass
class SearchResult:
    model: Pipeline
    params: dict
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def build_model(feature_names: list[str], params: dict, seed: int = 0) -> Pipeline:
    """A positional pipeline: it predicts from a float array in contract order, or a frame."""
    used = [i for i, name in enumerate(feature_names) if name not in IGNORED_FEATURES]
    return Pipeline(
        [
            ("select", ColumnTransformer([("used", "passthrough", used)], remainder="drop")),
            ("gbm", HistGradientBoostingRegressor(
                loss="absolute_error", max_iter=MAX_ITER, random_state=seed, **params)),
        ]
    )


def time_ordered_split(frame: pd.DataFrame, time_column: str, holdout_fraction: float):
    """Earlier rows to fit, the latest `holdout_fraction` to judge: no future leaks into fitting."""
    ordered = frame.sort_values(time_column, kind="stable")
    cut = int(round(len(ordered) * (1 - holdout_fraction)))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def search_model(
    X: np.ndarray, y: np.ndarray, feature_names: list[str], seed: int = 0, trials: int = TRIALS,
    on_trial=None,
) -> SearchResult:
    """Try `trials` configurations on the last 20% of the (time-ordered) rows, refit the best on all.
    `on_trial(i, n, trial)` hears of each finished trial (progress for a long search)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _search(X, y, feature_names, seed, trials, on_trial or (lambda *_: None))


def _search(X, y, feature_names, seed, trials, on_trial) -> SearchResult:
    # One OpenMP thread per fit: on a shared 2-core machine, two spinning threads per fit were
    # measured 1.5 s vs 60 s for the same fit when another process held a core.
    started = time.perf_counter()
    cut = int(len(X) * 0.8)
    rng = np.random.default_rng(seed)
    candidates = [SEARCH_SPACE[i] for i in rng.choice(len(SEARCH_SPACE), trials, replace=False)]
    results = []
    for params in candidates:
        model = build_model(feature_names, params, seed).fit(X[:cut], y[:cut])
        metrics = regression_metrics(y[cut:], model.predict(X[cut:]))
        results.append({"params": params, **{f"val_{k}": v for k, v in metrics.items()}})
        on_trial(len(results), trials, results[-1])
    best = min(results, key=lambda r: r["val_mae"])["params"]
    model = build_model(feature_names, best, seed).fit(X, y)
    return SearchResult(model, best, results, time.perf_counter() - started)
