"""Where a retraining window starts: at the shift, reaching back day by day only as far as needed for
a minimum number of clean trips, never past FARE_ASSETS_RETRAIN_DAYS."""

from datetime import date, timedelta

import pandas as pd

from fare_assets.clock import Window, reach_back_start, shift_training_window, table_horizon
from fare_assets.ml.features import load_features
from fare_assets.ml.schema import PICKUP_TIME
from fare_assets.ml.trip_source import SyntheticSource
from fare_assets.tasks.build_features import reach_back

DAYS = pd.date_range("2016-03-01", periods=10, freq="D")


def test_a_shift_window_runs_from_the_shift_day_to_the_watermark_within_the_retrain_days():
    assert shift_training_window(pd.Timestamp("2016-03-15 06:00"), pd.Timestamp("2016-03-22"), 60) == (
        date(2016, 3, 15), date(2016, 3, 22))
    assert shift_training_window(pd.Timestamp("2016-01-01"), pd.Timestamp("2016-03-22"), 7) == (
        date(2016, 3, 15), date(2016, 3, 22))
    assert shift_training_window(pd.Timestamp("2016-03-22 06:00"), pd.Timestamp("2016-03-22 12:00"), 7) == (
        date(2016, 3, 21), date(2016, 3, 22))  # never empty


def test_reach_back_takes_the_latest_day_that_makes_enough_rows():
    daily = pd.Series([100] * 7 + [20, 20, 20], index=DAYS)
    assert reach_back_start(daily, DAYS[7], 60) == DAYS[7]  # the shift's days already hold enough
    assert reach_back_start(daily, DAYS[7], 200) == DAYS[5]  # 60 + 100 + 100
    assert reach_back_start(daily, DAYS[7], 10_000) == DAYS[0]  # the whole span, still short


def test_build_features_reaches_back_over_a_demand_collapse_only_as_far_as_needed():
    source = SyntheticSource(scenario="demand_collapse@2016-03-10")
    requested = Window(pd.Timestamp("2016-03-10"), pd.Timestamp("2016-03-17"))
    inside = load_features(source, requested.start, requested.end)[0]
    assert 200 < len(inside) < 1000  # ~15% of ~365 trips a day
    start = reach_back(source, requested, inside, 2000, requested.end - timedelta(days=60), False)
    rows = len(load_features(source, start, requested.end)[0])
    assert start < requested.start and start == start.floor("D")
    assert rows >= 2000 and len(load_features(source, start + timedelta(days=1), requested.end)[0]) < 2000
    bounded = reach_back(source, requested, inside, 2000, requested.end - timedelta(days=9), False)
    assert bounded == pd.Timestamp("2016-03-08")  # no further than RETRAIN_DAYS before the end
    assert load_features(source, bounded, requested.end)[0][PICKUP_TIME].min() >= bounded


def test_a_table_horizon_is_the_configured_one_or_the_newest_row_less_the_lateness():
    newest = pd.Timestamp("2024-05-01 10:00")
    assert table_horizon(newest, timedelta(hours=6)) == pd.Timestamp("2024-05-01 04:00")
    assert table_horizon(newest, timedelta(hours=6), pd.Timestamp("2024-04-30")) == pd.Timestamp("2024-04-30")
    assert table_horizon(None, timedelta(hours=6)) is None
