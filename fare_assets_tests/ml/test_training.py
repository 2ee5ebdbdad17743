"""Model search on real 2019 trips: as good as a plain gradient-boosting model, without leakage."""

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor

from fare_assets.ml.evaluation import regression_metrics
from fare_assets.ml.features import compute_features, feature_columns
from fare_assets.ml.schema import FEATURE_COLUMNS
from fare_assets.ml.sources import clean_trips, in_window, read_trip_files
from fare_assets.ml.training import build_model, search_model, time_ordered_split


def months(directory, first, last):
    trips = read_trip_files(str(directory / f"yellow_tripdata_sample_2019-0[{first}-{last}].csv"))
    return clean_trips(trips)[0]


def test_model_on_real_data_is_no_worse_than_a_plain_gbr(nyc_tlc_dir):
    trips = months(nyc_tlc_dir, 1, 3)
    train = in_window(trips, pd.Timestamp("2019-01-01"), pd.Timestamp("2019-03-01"))
    test = in_window(trips, pd.Timestamp("2019-03-01"), pd.Timestamp("2019-04-01"))
    X_train, X_test = compute_features(train).to_numpy(float), compute_features(test).to_numpy(float)
    ours = search_model(X_train, train["fare_amount"].to_numpy(), list(FEATURE_COLUMNS))
    plain = GradientBoostingRegressor(random_state=0).fit(X_train, train["fare_amount"])
    ours_mae = regression_metrics(test["fare_amount"], ours.model.predict(X_test))["mae"]
    plain_mae = regression_metrics(test["fare_amount"], plain.predict(X_test))["mae"]
    print(f"March 2019 MAE: ours {ours_mae:.3f}, plain GBR {plain_mae:.3f}, search {ours.seconds:.1f}s")
    assert ours_mae <= 1.10 * plain_mae
    assert len(ours.trials) >= 4


def test_the_holdout_is_the_most_recent_slice():
    frame = pd.DataFrame({"t": pd.date_range("2016-01-01", periods=10, freq="h")[::-1], "x": range(10)})
    fit, holdout = time_ordered_split(frame, "t", 0.2)
    assert fit["t"].max() < holdout["t"].min() and len(holdout) == 2


def test_the_model_accepts_the_six_field_contract_and_ignores_pickup_month():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tpep_pickup_datetime": pd.date_range("2016-01-01", periods=400, freq="37min"),
                          "trip_distance": rng.uniform(0.3, 12, 400)})
    X = compute_features(frame)[feature_columns()].to_numpy(float)
    y = 2.5 + 2.5 * X[:, 0]
    model = build_model(feature_columns(), {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20}).fit(X, y)
    other_month = X.copy()
    other_month[:, list(FEATURE_COLUMNS).index("pickup_month")] = 11
    assert np.allclose(model.predict(X), model.predict(other_month))
