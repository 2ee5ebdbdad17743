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
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, TargetEncoder
from threadpoolctl import threadpool_limits

from fare_assets.ml.evaluation import regression_metrics
from fare_assets.ml.schema import LOCATION_COLUMNS
from fare_meter import MeteredFareRegressor

IGNORED_FEATURES = frozenset({"pickup_month"})
# Absolute-error loss fits the metric we judge by (MAE) and shrugs off odd fares; the
# grid is small on purpose: tuning buys about $0.05 on this problem (MISSION.md).
# At most 150 trees at learning rates 0.1-0.2: every tree is paid for again in each prediction.
# Measured on 2019 files (Jan-Feb -> March, one thread), before the meter line (fare_meter.py):
# this grid's zone model had MAE 0.879 x the plain GBR's and predicted 68k rows/s, where 300 trees
# at 0.05-0.1 gave 0.878 x at 24k rows/s and trained 2.5 times longer; the six-field model $1.406
# at 443k rows/s (was $1.407, 166k rows/s). With the line: 0.843 x and $1.374.
SEARCH_SPACE = [
    {"learning_rate": lr, "max_leaf_nodes": leaves, "min_samples_leaf": leaf}
    for lr in (0.1, 0.2)
    for leaves in (15, 31, 63)
    for leaf in (20, 80)
]
# skops (MLflow's safe default) refuses types it does not know; these are the ones our models hold.
# The gradient-boosting trees; with categorical features, HistGradientBoosting's own preprocessor
# keeps a functools.partial of check_array (sklearn/ensemble/_hist_gradient_boosting/
# gradient_boosting.py, `_preprocess_X`); the zone pair's np.dot and its encoder's KFold.
SKOPS_TRUSTED_TYPES = [
    "fare_meter.MeteredFareRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial", "sklearn.utils.validation.check_array",
    "numpy.dot", "sklearn.model_selection._split.KFold",
]
TRIALS = 6
MAX_ITER = 150
# The search only ranks configurations: above this many rows it fits and judges them on a random,
# still time-ordered subsample, so its cost stops growing; the refit of the best sees every row.
SEARCH_ROWS = 200_000
# At most this many rows get a masked twin (see with_masked_locations).
MASKED_ROWS = 500_000


@dataclass
class SearchResult:
    model: MeteredFareRegressor
    params: dict
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    search_rows: int = 0  # rows the trials were fitted and judged on: all of them, or a subsample


# HistGradientBoosting takes at most 255 categories per feature (max_bins); there are 265 zone ids.
# The rarest zones share one category, the way OrdinalEncoder groups infrequent categories.
ZONE_CATEGORIES = 250
# A zone pair as one number (pickup * 1000 + dropoff): the pair, not either zone alone, is what
# sets a trip's route and so its traffic, and 20k trips hold too few of each pair for the trees
# to learn them; a cross-fitted target encoding of the pair gives its typical fare instead.
# Measured on 2019 files (Jan-Feb -> March): zones as categories alone 0.886 x the plain GBR's
# MAE, with the encoded pair 0.862 x.
PAIR_WEIGHTS = np.array([[1000.0], [1.0]])


def build_model(feature_names: list[str], params: dict, seed: int = 0) -> MeteredFareRegressor:
    """The meter's line in the distance plus a positional pipeline of trees for the rest
    (fare_meter.py): it predicts from a float array in contract order, or a frame. With the
    location fields among its inputs, missing zones (NaN) take a path of their own."""
    used = [i for i, name in enumerate(feature_names) if name not in IGNORED_FEATURES and name not in LOCATION_COLUMNS]
    zones = [feature_names.index(c) for c in LOCATION_COLUMNS if c in feature_names]
    parts = [("used", "passthrough", used)]
    categorical = [False] * len(used)
    if zones:
        parts += [
            ("zones", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                     encoded_missing_value=np.nan, max_categories=ZONE_CATEGORIES), zones),
            ("zone_pair", Pipeline([
                ("pair", FunctionTransformer(np.dot, kw_args={"b": PAIR_WEIGHTS})),
                ("typical_fare", TargetEncoder(target_type="continuous", cv=KFold(5, shuffle=True, random_state=seed))),
            ]), zones),
        ]
        categorical += [True, True, False]
    trees = Pipeline(
        [
            ("select", ColumnTransformer(parts, remainder="drop")),
            ("gbm", HistGradientBoostingRegressor(
                loss="absolute_error", max_iter=MAX_ITER, random_state=seed,
                categorical_features=categorical if zones else None, **params)),
        ]
    )
    return MeteredFareRegressor(trees, distance_index=feature_names.index("trip_distance"), random_state=seed)


def with_masked_locations(X: np.ndarray, y: np.ndarray, feature_names: list[str], seed: int = 0,
                          masked_rows: int = MASKED_ROWS):
    """Rows twice, in place (time order kept): once as they are, once with their zones missing, so
    the model learns to answer a request without location fields as well as one with them. Every
    row up to `masked_rows`, a random `masked_rows` of them above: the no-location path has six
    inputs to learn, not enough to need millions of examples, and training time stays linear.
    Measured on 2019 files (Jan-Feb -> March, before the meter line): with zones 0.879 x the plain
    GBR's MAE; without zones $1.406, as the six-field model. Single fits without the twins reached
    0.862 x with zones, but then a request without them is no better than a guess; masking a random
    10-20% of rows instead of adding twins cost more on both paths (0.887-0.889 x and $1.425-1.428).
    With the line the twins cost less: 0.842 x with them, 0.847 x without (one fit, 31 leaves)."""
    zones = [feature_names.index(c) for c in LOCATION_COLUMNS if c in feature_names]
    if not zones:
        return X, y
    twice = np.ones(len(X), dtype=bool)
    if len(X) > masked_rows:
        twice = np.zeros(len(X), dtype=bool)
        twice[np.random.default_rng([seed, len(X)]).choice(len(X), masked_rows, replace=False)] = True
    counts = 1 + twice
    doubled = np.repeat(X, counts, axis=0)
    copies = np.cumsum(counts)[twice] - 1  # a twin follows its original: the pair's last row
    doubled[np.ix_(copies, zones)] = np.nan
    return doubled, np.repeat(y, counts)


def time_ordered_split(frame: pd.DataFrame, time_column: str, holdout_fraction: float):
    """Earlier rows to fit, the latest `holdout_fraction` to judge: no future leaks into fitting."""
    ordered = frame.sort_values(time_column, kind="stable")
    cut = int(round(len(ordered) * (1 - holdout_fraction)))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def search_model(
    X: np.ndarray, y: np.ndarray, feature_names: list[str], seed: int = 0, trials: int = TRIALS,
    on_trial=None, search_rows: int = SEARCH_ROWS,
) -> SearchResult:
    """Try `trials` configurations, each judged on the last 20% of the (time-ordered) rows, or of a
    subsample of `search_rows` of them; refit the best on all rows. A model with location fields
    fits every row with and without its zones (`with_masked_locations`).
    `on_trial(i, n, trial)` hears of each finished trial (progress for a long search)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _search(X, y, feature_names, seed, trials, on_trial or (lambda *_: None), search_rows)


def _search(X, y, feature_names, seed, trials, on_trial, search_rows) -> SearchResult:
    # One OpenMP thread per fit: on a shared 2-core machine, two spinning threads per fit were
    # measured 1.5 s vs 60 s for the same fit when another process held a core.
    started = time.perf_counter()
    X, y = with_masked_locations(X, y, feature_names)
    rng = np.random.default_rng(seed)
    candidates = [SEARCH_SPACE[i] for i in rng.choice(len(SEARCH_SPACE), trials, replace=False)]
    X_search, y_search = time_ordered_subsample(X, y, search_rows, seed)
    cut = int(len(X_search) * 0.8)
    results = []
    for params in candidates:
        model = build_model(feature_names, params, seed).fit(X_search[:cut], y_search[:cut])
        metrics = regression_metrics(y_search[cut:], model.predict(X_search[cut:]))
        results.append({"params": params, **{f"val_{k}": v for k, v in metrics.items()}})
        on_trial(len(results), trials, results[-1])
    best = min(results, key=lambda r: r["val_mae"])["params"]
    model = build_model(feature_names, best, seed).fit(X, y)
    return SearchResult(model, best, results, time.perf_counter() - started, len(X_search))


def time_ordered_subsample(X: np.ndarray, y: np.ndarray, rows: int, seed: int = 0):
    """At most `rows` of the rows, drawn at random, kept in their (time) order."""
    if len(X) <= rows:
        return X, y
    keep = np.sort(np.random.default_rng([seed, len(X)]).choice(len(X), rows, replace=False))
    return X[keep], y[keep]
