"""Constructed shifts (ml/shifts.py) change exactly what they say, and on the real 2019 trips a model
trained on the window the drift sensor asks for after a shift (from where the shift began, reaching
back only for enough rows) beats the old Champion by far more than 15% on the trips of the four
weeks after, where the old "last 60 days" window falls short. Model level: the shifted months are
files read by the project's FileSource, and the window comes from the sensor's shift_training_window
and build_features' reach_back; the whole loop is benchmarks/shift_recovery.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fare_assets.clock import Window, shift_training_window
from fare_assets.ml.features import load_features, model_inputs
from fare_assets.ml.schema import DROPOFF_TIME, FEATURE_COLUMNS, LABEL, PICKUP_TIME
from fare_assets.ml.shifts import apply_shift, write_shifted
from fare_assets.ml.sources import read_trip_file
from fare_assets.ml.training import build_model
from fare_assets.ml.trip_source import FileSource
from fare_assets.settings import Settings
from fare_assets.tasks.build_features import reach_back
from fare_assets_tests.conftest import tlc_sample

START = pd.Timestamp("2019-05-01")


def trips_around_the_start() -> pd.DataFrame:
    pickups = pd.date_range("2019-04-29", periods=8, freq="12h")
    return pd.DataFrame({PICKUP_TIME: pickups, DROPOFF_TIME: pickups + pd.Timedelta(minutes=20),
                         "trip_distance": np.linspace(1.0, 8.0, 8), "fare_amount": [6.0, 52.0, 9.0, 12.0] * 2})


def test_a_fare_rule_change_reprices_every_trip_from_its_start_and_none_before():
    trips = trips_around_the_start()
    shifted = apply_shift(trips, "fare_rule_change", START)
    after = trips[PICKUP_TIME] >= START
    assert shifted.loc[~after, "fare_amount"].tolist() == trips.loc[~after, "fare_amount"].tolist()
    assert np.allclose(shifted.loc[after, "fare_amount"], trips.loc[after, "fare_amount"] * 1.25 + 0.50)


def test_longer_trips_pay_the_meter_for_the_added_miles_except_the_flat_jfk_fare():
    trips = trips_around_the_start()
    shifted = apply_shift(trips, "longer_trips", START)
    after = trips[PICKUP_TIME] >= START
    assert np.allclose(shifted.loc[after, "trip_distance"], trips.loc[after, "trip_distance"] * 1.5)
    added = shifted["fare_amount"] - trips["fare_amount"]
    metered = after & (trips["fare_amount"] != 52.0)
    assert np.allclose(added[metered], 2.50 * 0.5 * trips.loc[metered, "trip_distance"])
    assert (added[~metered] == 0).all() and shifted.loc[~after].equals(trips.loc[~after])


def test_a_demand_collapse_keeps_the_same_fifth_of_trips_whatever_their_order():
    pickups = pd.Timestamp("2019-05-01") + pd.to_timedelta(np.arange(20_000) * 37, unit="s")
    rng = np.random.default_rng(0)
    trips = pd.DataFrame({PICKUP_TIME: pickups, DROPOFF_TIME: pickups + pd.Timedelta(minutes=15),
                          "trip_distance": rng.gamma(2.0, 1.4, len(pickups)).round(2),
                          "fare_amount": rng.gamma(3.0, 4.0, len(pickups)).round(1)})
    kept = apply_shift(trips, "demand_collapse", "2019-05-02")
    before = trips[PICKUP_TIME] < pd.Timestamp("2019-05-02")
    assert kept[kept[PICKUP_TIME] < pd.Timestamp("2019-05-02")].equals(trips[before])  # untouched before
    share = (len(kept) - before.sum()) / (~before).sum()
    assert 0.18 < share < 0.22
    shuffled = apply_shift(trips.sample(frac=1.0, random_state=1), "demand_collapse", "2019-05-02")
    assert sorted(map(tuple, shuffled.to_numpy())) == sorted(map(tuple, kept.to_numpy()))


def test_an_unknown_shift_names_the_ones_there_are():
    with pytest.raises(ValueError, match="unknown shift 'fare_hike': one of fare_rule_change, demand_collapse, longer_trips"):
        apply_shift(trips_around_the_start(), "fare_hike", START)


def shifted_2019(folder, shift: str, months) -> FileSource:
    """The 2019 samples with `shift` from START, as Parquet files a source reads (as the benchmark replays them)."""
    return FileSource([str(write_shifted(apply_shift(read_trip_file(tlc_sample(month)), shift, START),
                                         folder / f"2019-{month:02d}.parquet")) for month in months])


def sensor_window(source: FileSource, first_firing_window: str, watermark: str) -> tuple[Window, Window]:
    """The window the drift sensor requests after a shift, and the one build_features trains on after
    reaching back for enough trips (default settings)."""
    defaults = Settings.from_env({})
    start, end = (pd.Timestamp(day) for day in
                  shift_training_window(pd.Timestamp(first_firing_window), pd.Timestamp(watermark), defaults.retrain_days))
    requested = Window(start, end)
    inside = load_features(source, start, end)[0]
    reached = reach_back(source, requested, inside, defaults.retrain_min_rows,
                         end - pd.Timedelta(days=defaults.retrain_days), False)
    return requested, Window(reached, end)


@pytest.mark.usefixtures("nyc_tlc_dir")
def test_on_2019_trips_the_window_from_the_shift_beats_the_old_champion_where_the_last_60_days_do_not(tmp_path):
    # The shift starts on a Wednesday; the weekly window from Friday 3 May is the first that fires
    # (the one before holds two shifted days), and the sensor asks for training at its end, 10 May.
    source = shifted_2019(tmp_path, "fare_rule_change", range(1, 7))
    requested, window = sensor_window(source, "2019-05-03", "2019-05-10")
    assert window == requested == Window(pd.Timestamp("2019-05-03"), pd.Timestamp("2019-05-10"))  # enough trips

    def fit(start, end):
        features = load_features(source, pd.Timestamp(start), pd.Timestamp(end))[0]
        params = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20}
        return build_model(list(FEATURE_COLUMNS), params).fit(model_inputs(features), features[LABEL].to_numpy()), len(features)

    since_shift, rows = fit(window.start, window.end)
    last_60_days, _ = fit(window.end - pd.Timedelta(days=60), window.end)
    old_champion, _ = fit("2019-01-01", "2019-03-01")

    after = load_features(source, window.end, window.end + pd.Timedelta(days=28))[0]
    X, y = model_inputs(after), after[LABEL].to_numpy()
    old, new, sixty = (float(np.mean(np.abs(model.predict(X) - y))) for model in (old_champion, since_shift, last_60_days))
    assert rows > 2000 and len(after) > 8000
    assert new < 0.85 * old, (new, old)  # measured 0.43
    assert sixty > 1.5 * new, (sixty, new)  # measured 0.89 of the old MAE: mostly pre-shift trips


@pytest.mark.usefixtures("nyc_tlc_dir")
def test_after_a_2019_demand_collapse_the_window_reaches_back_only_as_far_as_enough_trips_need(tmp_path):
    source = shifted_2019(tmp_path, "demand_collapse", (4, 5))
    requested, window = sensor_window(source, "2019-05-03", "2019-05-10")
    min_rows = Settings.from_env({}).retrain_min_rows

    def trips_from(start):
        return len(load_features(source, start, requested.end)[0])

    assert trips_from(requested.start) < min_rows  # a week at a fifth of the trips is too few
    assert window.start < requested.start and trips_from(window.start) >= min_rows
    assert trips_from(window.start + pd.Timedelta(days=1)) < min_rows  # not a day further
    assert window.start > pd.Timestamp("2019-04-20")  # about 330 full-volume trips a day: days, not weeks
