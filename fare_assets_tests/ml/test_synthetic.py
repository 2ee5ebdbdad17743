"""Specification of the offline synthetic trips source (fare_assets.ml.synthetic)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from fare_assets.ml.schema import DROPOFF_TIME, PICKUP_TIME, TRIP_COLUMNS
from fare_assets.ml.synthetic import (
    JFK, SCENARIOS, MeterRules, Scenario, generate_trips, meter_fare, parse_scenario,
)

TRAINING_START, TRAINING_END = "2016-01-01", "2016-03-01"


@pytest.fixture(scope="module")
def training_window() -> pd.DataFrame:
    return generate_trips(TRAINING_START, TRAINING_END)


def minutes(trips: pd.DataFrame) -> pd.Series:
    return (trips[DROPOFF_TIME] - trips[PICKUP_TIME]).dt.total_seconds() / 60


# --- the frame ------------------------------------------------------------------------------

def test_the_frame_has_exactly_the_trip_columns_and_dtypes(training_window):
    assert training_window.dtypes.astype(str).to_dict() == TRIP_COLUMNS
    assert generate_trips("2016-01-05", "2016-01-05").dtypes.astype(str).to_dict() == TRIP_COLUMNS


def test_pickups_are_sorted_and_inside_the_half_open_window():
    trips = generate_trips("2016-01-03 06:30", "2016-01-05 18:15")
    assert trips[PICKUP_TIME].is_monotonic_increasing
    assert trips[PICKUP_TIME].min() >= pd.Timestamp("2016-01-03 06:30")
    assert trips[PICKUP_TIME].max() < pd.Timestamp("2016-01-05 18:15")
    assert (trips[DROPOFF_TIME] > trips[PICKUP_TIME]).all()


def test_trip_ids_are_unique_and_name_their_day(training_window):
    assert training_window["trip_id"].is_unique
    days = training_window[PICKUP_TIME].dt.strftime("%Y%m%d")
    assert (training_window["trip_id"].str.slice(4, 12) == days).all()
    assert training_window["trip_id"].iloc[0] == "syn-20160101-00000"


# --- determinism ----------------------------------------------------------------------------

def test_the_same_window_gives_the_same_trips(training_window):
    pd.testing.assert_frame_equal(generate_trips(TRAINING_START, TRAINING_END), training_window)


@pytest.mark.parametrize("later_start, end", [
    ("2016-01-20", "2016-02-03"),              # midnight-aligned
    ("2016-01-20 07:45", "2016-01-23 13:10"),  # not aligned
])
def test_a_window_equals_the_same_stretch_of_any_larger_window(later_start, end):
    larger = generate_trips("2016-01-15", end)
    tail = larger[larger[PICKUP_TIME] >= pd.Timestamp(later_start)].reset_index(drop=True)
    pd.testing.assert_frame_equal(tail, generate_trips(later_start, end))


def test_timezone_aware_bounds_are_read_as_nyc_local_time():
    utc_midnight_in_nyc = pd.Timestamp("2016-01-04 05:00", tz="UTC")
    pd.testing.assert_frame_equal(generate_trips(utc_midnight_in_nyc, "2016-01-05"),
                                  generate_trips("2016-01-04", "2016-01-05"))


# --- shape: like NYC yellow cabs in early 2016 -----------------------------------------------

def test_the_default_training_window_has_about_as_many_trips_as_the_databricks_sample(training_window):
    assert len(training_window) == pytest.approx(21_932, rel=0.02)
    assert len(generate_trips("2016-01-01", "2016-01-11", trips_per_day=3655)) == pytest.approx(36_550, rel=0.05)


def test_distances_are_mostly_short_with_a_tail_of_airport_trips(training_window):
    distance = training_window["trip_distance"]
    assert 1.4 <= distance.median() <= 1.8
    assert 2.5 <= distance.mean() <= 3.2
    assert 0.02 <= (distance > 15).mean() <= 0.05


def test_demand_is_low_before_dawn_peaks_in_the_evening_and_weekend_nights_are_busier(training_window):
    pickup = training_window[PICKUP_TIME]
    hour_share = pickup.dt.hour.value_counts(normalize=True)
    assert hour_share[[3, 4, 5]].max() < 0.015 < 0.06 < hour_share[[18, 19]].min()
    weekend = pickup.dt.day_of_week >= 5
    late_night = pickup.dt.hour < 3
    assert late_night[weekend].mean() > 2 * late_night[~weekend].mean()


def test_traffic_is_slow_in_the_day_and_fast_at_night(training_window):
    mph = training_window["trip_distance"] / (minutes(training_window) / 60)
    hour = training_window[PICKUP_TIME].dt.hour
    assert mph[hour.between(9, 17)].median() < 10 < 13 < mph[hour.between(1, 5)].median()


def test_zones_are_tlc_zones_and_zips_are_nyc_zips_or_missing(training_window):
    for end in ("pickup", "dropoff"):
        assert training_window[f"{end}_location_id"].between(1, 263).all()
        zips = training_window[f"{end}_zip"].dropna()
        assert zips.between(10001, 11697).all()
        assert 0.5 < len(zips) / len(training_window) < 1


# --- fares: the 2016 meter ------------------------------------------------------------------

def test_the_meter_charges_initial_plus_half_a_dollar_per_fifth_mile_moving_or_slow_minute():
    assert meter_fare(1.0, 0) == 2.50 + 5 * 0.50
    assert meter_fare(0.0, 10) == 2.50 + 10 * 0.50
    assert meter_fare(2.0, 6) == 2.50 + (10 + 6) * 0.50
    assert meter_fare(1.0, 0, MeterRules(initial=3.00, unit_price=0.625)) == 3.00 + 5 * 0.625


def test_fares_follow_the_meter_between_a_distance_only_and_a_distance_plus_time_fare(training_window):
    metered = training_window[training_window["fare_amount"] != 52.0]
    distance_only = 2.50 + 2.50 * metered["trip_distance"]
    distance_and_time = distance_only + 0.50 * minutes(metered)
    within = metered["fare_amount"].between(distance_only - 0.5, distance_and_time + 0.5)
    assert within.mean() > 0.99  # the rest: negotiated and out-of-city fares
    assert ((metered["fare_amount"] * 2) % 1 == 0).mean() > 0.99  # $0.50 steps


def test_a_trip_crawling_in_traffic_is_charged_by_the_minute(training_window):
    crawling = training_window[training_window["trip_distance"] / (minutes(training_window) / 60) < 5]
    per_minute = 2.50 + 0.50 * minutes(crawling)
    assert len(crawling) > 100
    assert ((crawling["fare_amount"] - per_minute).abs() <= 0.5).mean() > 0.98


def test_jfk_manhattan_trips_pay_the_52_dollar_flat_fare(training_window):
    flat = training_window[training_window["fare_amount"] == 52.0]
    assert 0.01 < len(flat) / len(training_window) < 0.04
    at_jfk = (flat["pickup_location_id"] == JFK) | (flat["dropoff_location_id"] == JFK)
    assert at_jfk.mean() > 0.9
    assert flat["trip_distance"].median() == pytest.approx(18, abs=1)


# --- scenarios ------------------------------------------------------------------------------

SCENARIO_DATE = "2016-03-08"
BEFORE, DURING, AFTER = "2016-03-01", SCENARIO_DATE, "2016-03-15"


def split_at_scenario(name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(trips before the date, trips after it, the same after-days without the scenario)."""
    drifted = generate_trips(BEFORE, AFTER, parse_scenario(f"{name}@{SCENARIO_DATE}"))
    after = drifted[PICKUP_TIME] >= pd.Timestamp(SCENARIO_DATE)
    return drifted[~after], drifted[after], generate_trips(DURING, AFTER)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_scenario_changes_nothing_before_its_date(name):
    before, _, _ = split_at_scenario(name)
    pd.testing.assert_frame_equal(before, generate_trips(BEFORE, DURING))


def test_demand_collapse_cuts_volume_by_about_85_percent_with_shorter_faster_trips():
    _, after, usual = split_at_scenario("demand_collapse")
    assert len(after) / len(usual) == pytest.approx(0.15, abs=0.04)
    assert after["trip_distance"].median() < 0.9 * usual["trip_distance"].median()
    mph = lambda trips: (trips["trip_distance"] / (minutes(trips) / 60)).median()  # noqa: E731
    assert mph(after) > 1.3 * mph(usual)


def test_fare_rule_change_raises_the_meter_by_a_quarter_on_the_same_trips():
    _, after, usual = split_at_scenario("fare_rule_change")
    pd.testing.assert_frame_equal(after.drop(columns="fare_amount").reset_index(drop=True),
                                  usual.drop(columns="fare_amount"))
    ratio = (after["fare_amount"].to_numpy() - 3.00) / (usual["fare_amount"].to_numpy() - 2.50)
    assert np.median(ratio) == pytest.approx(1.25, abs=0.03)
    assert (after["fare_amount"] == 65.0).mean() > 0.01


def test_longer_trips_triples_the_typical_distance():
    _, after, usual = split_at_scenario("longer_trips")
    assert after["trip_distance"].median() > 2.5 * usual["trip_distance"].median()


def test_rush_shift_moves_the_weekday_peaks_four_hours_earlier():
    _, after, usual = split_at_scenario("rush_shift")

    def weekday_share(trips: pd.DataFrame, hours: range) -> float:
        pickup = trips[PICKUP_TIME][trips[PICKUP_TIME].dt.day_of_week < 5]
        return pickup.dt.hour.isin(hours).mean()

    # The morning rush (7-9 am) now comes at 3-5 am, the evening one (5-7 pm) at 1-3 pm.
    assert weekday_share(after, range(3, 6)) > 4 * weekday_share(usual, range(3, 6))
    assert weekday_share(after, range(17, 20)) < 0.8 * weekday_share(usual, range(17, 20))


@pytest.mark.parametrize("name", ["fare_rule_change", "longer_trips"])
def test_a_model_fitted_before_the_date_is_clearly_worse_after_it(name):
    # A lookup model (median fare by distance band and pickup hour) stands in for the real
    # one: it fits in milliseconds and, like trees, cannot extrapolate past what it has seen.
    history = generate_trips("2016-02-01", "2016-03-01")
    bands = np.quantile(history["trip_distance"], np.linspace(0, 1, 41)[1:-1])

    def band_and_hour(trips: pd.DataFrame) -> pd.MultiIndex:
        band = np.searchsorted(bands, trips["trip_distance"])
        return pd.MultiIndex.from_arrays([band, trips[PICKUP_TIME].dt.hour.to_numpy()])

    median_fare = history["fare_amount"].groupby(band_and_hour(history)).median()

    def mae(trips: pd.DataFrame) -> float:
        predicted = median_fare.reindex(band_and_hour(trips)).to_numpy()
        return np.nanmean(np.abs(predicted - trips["fare_amount"].to_numpy()))

    _, after, usual = split_at_scenario(name)
    assert mae(after) > 1.5 * mae(usual)


# --- scenario specs -------------------------------------------------------------------------

def test_an_empty_spec_means_no_scenario():
    assert parse_scenario("") is None
    assert parse_scenario("  ") is None


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_spec_names_a_scenario_and_its_first_day(name):
    scenario = parse_scenario(f"{name}@2016-04-01")
    assert scenario == Scenario(name, pd.Timestamp("2016-04-01").date())
    assert str(scenario) == f"{name}@2016-04-01"


@pytest.mark.parametrize("spec", ["demand_colapse@2016-04-01", "rush_shift", "rush_shift@April", "@2016-04-01"])
def test_a_bad_spec_is_rejected_with_the_accepted_forms(spec):
    with pytest.raises(ValueError) as error:
        parse_scenario(spec)
    message = str(error.value)
    assert repr(spec) in message
    assert all(f"{name}@YYYY-MM-DD" in message for name in SCENARIOS)
