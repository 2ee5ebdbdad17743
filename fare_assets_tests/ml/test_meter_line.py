"""The meter's line under the trees: fitted by least absolute deviations, carried with the model."""

import subprocess
import sys
import textwrap

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fare_assets.ml.features import feature_columns
from fare_meter import MeteredFareRegressor, least_absolute_line
from fare_assets.ml.training import SKOPS_TRUSTED_TYPES, build_model

REPOSITORY = Path(__file__).resolve().parents[2]
PARAMS = {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20}


def metered_trips(n=3000, seed=0, longest=10.0):
    """Six-field inputs in contract order and fares of $2.50 + $2.50 a mile plus waiting time."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, n)
    X = np.column_stack([rng.uniform(0.3, longest, n), hour, rng.integers(1, 8, n), np.full(n, 3),
                         np.zeros(n), np.isin(hour, [7, 8, 9, 16, 17, 18, 19])]).astype(float)
    waiting = np.where(X[:, 5] == 1, 3.0, 1.0) * rng.exponential(1.0, n)
    return X, 2.5 + 2.5 * X[:, 0] + waiting


def test_the_line_is_the_meters_and_odd_fares_do_not_bend_it():
    rng = np.random.default_rng(3)
    miles = rng.uniform(0.5, 12, 5000)
    fares = 2.5 + 2.5 * miles + rng.normal(0, 0.3, 5000)
    fares[:500] = 52.0  # a tenth are flat airport fares, whatever the distance
    flag_drop, per_mile = least_absolute_line(miles, fares)
    assert flag_drop == pytest.approx(2.5, abs=0.1) and per_mile == pytest.approx(2.5, abs=0.03)
    per_mile_squares, flag_drop_squares = np.polyfit(miles, fares, 1)
    assert abs(flag_drop_squares - 2.5) > 4 and abs(per_mile_squares - 2.5) > 0.2  # least squares, bent


def test_a_trip_longer_than_any_in_training_costs_what_the_meter_says():
    X, y = metered_trips(longest=10.0)
    model = build_model(feature_columns(), PARAMS).fit(X, y)
    assert isinstance(model, MeteredFareRegressor)
    longer = X[:200].copy()
    longer[:, 0] = 20.0
    # Trees alone would stop at the longest trip they saw (about $28); the line goes on.
    assert np.median(model.predict(longer)) == pytest.approx(2.5 + 2.5 * 20 + 1, abs=2)
    assert model.n_features_in_ == 6


def test_a_model_takes_a_frame_as_the_endpoint_and_spark_send_it_and_fitting_leaves_the_inputs_alone():
    X, y = metered_trips()
    inputs, fares = X.copy(), y.copy()
    model = build_model(feature_columns(), PARAMS).fit(X, y)
    assert np.array_equal(X, inputs) and np.array_equal(y, fares)
    frame = pd.DataFrame(X[:50], columns=feature_columns())
    np.testing.assert_allclose(model.predict(frame), model.predict(X[:50]))


@pytest.mark.filterwarnings("ignore:X has feature names")
def test_a_registered_model_loads_where_fare_assets_is_not_installed(tmp_path):
    """As in Databricks Model Serving, which installs only the model's pip requirements: the model's
    code path carries the meter line, and nothing but it."""
    import mlflow.sklearn

    from fare_assets.tasks.train_model import model_code_paths, model_requirements

    X, y = metered_trips()
    model = build_model(feature_columns(), PARAMS).fit(X, y)
    frame = pd.DataFrame(X[:20], columns=feature_columns())
    mlflow.sklearn.save_model(model, tmp_path / "model", skops_trusted_types=SKOPS_TRUSTED_TYPES,
                              pip_requirements=model_requirements(), code_paths=model_code_paths())
    assert sorted(p.name for p in (tmp_path / "model" / "code").iterdir()) == ["fare_meter.py"]
    frame.to_csv(tmp_path / "request.csv", index=False)
    script = textwrap.dedent(f"""
        import importlib.util, sys
        sys.meta_path = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
        sys.path = [p for p in sys.path if p not in ("", {str(REPOSITORY)!r})]
        for name in ("fare_assets", "fare_meter"):
            assert importlib.util.find_spec(name) is None, name + " is installed here"
        import mlflow.pyfunc, pandas as pd
        served = mlflow.pyfunc.load_model({str(tmp_path / "model")!r})
        import fare_meter
        assert fare_meter.__file__.startswith({str(tmp_path / "model")!r}), fare_meter.__file__
        print(",".join(map(str, served.predict(pd.read_csv({str(tmp_path / "request.csv")!r})))))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.array([float(v) for v in done.stdout.strip().splitlines()[-1].split(",")])
    np.testing.assert_allclose(served, model.predict(X[:20]))


def zoned_trips(n=6000, seed=0):
    """metered_trips plus pickup and dropoff zones (ids 1..60), whose pairs add a route surcharge."""
    X, y = metered_trips(n, seed)
    rng = np.random.default_rng(seed + 1)
    zones = rng.integers(1, 61, (n, 2)).astype(float)
    return np.column_stack([X, zones]), y + (zones[:, 0] % 7) + 0.5 * (zones[:, 1] % 3)


def public_predict(model, X):
    """What scikit-learn's own predict gives: the line plus the pipeline's predict."""
    return model.line(model._distance(X)) + model.regressor_.predict(X)


@pytest.mark.parametrize("zones", [True, False], ids=["zone model", "six-field model"])
def test_a_batch_gets_exactly_the_predictions_scikit_learns_predict_gives_and_checks_them_on_its_first_rows(zones, monkeypatch):
    from fare_meter import CHECK_ROWS

    X, y = zoned_trips() if zones else metered_trips(6000)
    model = build_model(feature_columns(include_location=zones), PARAMS).fit(X, y)
    batch = np.tile(X, (5, 1))  # 30,000 rows: a batch
    if zones:  # requests without zones, zones never seen, and a pair never seen
        batch[:3000, 6:] = np.nan
        batch[3000:4000, 6] = 263.0
        batch[4000:5000, 6:] = [[1.0, 60.0]]
    expected = public_predict(model, batch)

    public, rows_seen = model.regressor_.predict, []

    def watched(X):
        rows_seen.append(len(X))
        return public(X)

    monkeypatch.setattr(model.regressor_, "predict", watched)
    assert np.array_equal(model.predict(batch), expected)
    assert np.array_equal(model.predict(pd.DataFrame(batch, columns=feature_columns(include_location=zones))), expected)
    assert rows_seen == [CHECK_ROWS, CHECK_ROWS]  # the public predict only checks the first rows


def test_a_batch_whose_first_rows_disagree_with_the_public_predict_gets_the_public_predict(monkeypatch):
    import fare_meter

    X, y = zoned_trips()
    model = build_model(feature_columns(include_location=True), PARAMS).fit(X, y)
    batch = np.tile(X, (5, 1))
    expected = public_predict(model, batch)
    monkeypatch.setattr(fare_meter, "CHECK_ROWS", 10)
    walk = fare_meter.walk_binned
    monkeypatch.setattr(fare_meter, "walk_binned", lambda *a: walk(*a) + 1e-9)  # a walk that differs

    assert np.array_equal(model.predict(batch), expected)


def binned_trees(max_leaf_nodes, n=20_000, seed=0):
    """A fitted HistGradientBoostingRegressor on a numeric feature, a categorical one and one with
    missing values, and its training inputs binned as it bins them."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 40, n), rng.normal(size=n)])
    X[rng.random(n) < 0.2, 2] = np.nan
    y = X[:, 0] + np.sin(X[:, 1]) + np.nan_to_num(X[:, 2], nan=3.0) + rng.normal(scale=0.1, size=n)
    gbm = HistGradientBoostingRegressor(max_iter=12, max_leaf_nodes=max_leaf_nodes, categorical_features=[False, True, False],
                                       early_stopping=False, random_state=seed).fit(X, y)
    return gbm, gbm._bin_mapper.transform(gbm._preprocessor.transform(X))


def scikit_learns_binned_walk(trees, binned, missing_bin, baseline):
    raw = np.zeros(len(binned)) + baseline
    for tree in trees:
        raw += tree.predict_binned(binned, missing_values_bin_idx=missing_bin, n_threads=1)
    return raw


@pytest.mark.parametrize("max_leaf_nodes", [31, 64, 90], ids=["31 leaves", "64 leaves", "over 64 leaves: scikit-learn walks them"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_the_leaf_mask_walk_sums_exactly_what_scikit_learns_walk_sums(max_leaf_nodes, n_threads, monkeypatch):
    import fare_meter

    gbm, binned = binned_trees(max_leaf_nodes)
    trees, missing_bin = [tree for (tree,) in gbm._predictors], gbm._bin_mapper.missing_values_bin_idx_
    assert any(tree.nodes["is_categorical"].any() for tree in trees)  # categorical splits are walked too
    if max_leaf_nodes > 64:
        assert any(fare_meter._leaf_masks(tree, missing_bin) is None for tree in trees)
    monkeypatch.setattr(fare_meter, "WALK_BLOCK_ROWS", 3000)  # blocks, and a short last one
    expected = scikit_learns_binned_walk(trees, binned, missing_bin, 1.5)

    assert np.array_equal(fare_meter.walk_binned(trees, binned, missing_bin, 1.5, n_threads), expected)


def test_a_tree_that_is_one_leaf_gives_its_leaf():
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    import fare_meter

    nodes = np.zeros(1, dtype=PREDICTOR_RECORD_DTYPE)
    nodes["is_leaf"], nodes["value"] = 1, 2.25
    no_bitsets = np.zeros((0, 8), dtype=np.uint32)
    leaf = TreePredictor(nodes, no_bitsets, no_bitsets)
    binned = np.asfortranarray(np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.uint8))

    assert np.array_equal(fare_meter.walk_binned([leaf, leaf], binned, 255, 0.5, 1), np.full(500, 5.0))


def test_encoders_meeting_values_that_are_not_codes_transform_them_as_scikit_learn_does():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder

    from fare_meter import column_transform

    rng = np.random.default_rng(0)
    train = np.column_stack([rng.integers(0, 5, 500) + 0.5, rng.integers(-3, 3, 500), rng.normal(size=500)])
    transformer = ColumnTransformer([("codes", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), [0, 1]),
                                     ("rest", "passthrough", [2])]).fit(train)
    batch = np.tile(train, (40, 1))
    assert np.array_equal(column_transform(transformer, batch), transformer.transform(batch))


def test_a_function_of_the_whole_batch_gives_what_scikit_learn_gives():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer

    from fare_meter import column_transform

    share_of_batch = FunctionTransformer(lambda X: X / np.nansum(X, axis=0))
    transformer = ColumnTransformer([("share", share_of_batch, [0])]).fit(np.ones((10, 1)))
    batch = np.tile(np.arange(1.0, 6.0), 6000)[:, None]  # 30,000 rows, 5 distinct values
    assert np.array_equal(column_transform(transformer, batch), transformer.transform(batch))
