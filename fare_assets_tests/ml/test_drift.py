"""Drift rules: synthetic unit checks, and the 2019 TLC replay they were calibrated on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fare_assets.ml import drift_rules
from fare_assets_tests.ml.conftest import synthetic_trips
from fare_assets.ml.drift import (
    PROFILE_COLUMNS, ROW_COLUMNS, build_baseline, evaluate_window, profile_from_rows,
    profile_to_rows,
)
from fare_assets.ml.features import compute_features
from fare_assets.ml.sources import read_clean_trips
from fare_assets.ml.schema import FEATURE_COLUMNS
from fare_assets.ml.training import build_model, time_ordered_split

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nyc_tlc"


def test_empty_window_is_no_data(synthetic_baseline):
    result = evaluate_window(synthetic_baseline, synthetic_trips(0, "2024-03-04", 1), 24)
    assert result["status"] == "no_data" and not result["should_retrain"] and result["fired"] == []
    json.dumps(result, allow_nan=False)


def test_a_handful_of_trips_never_fires(synthetic_baseline):
    tiny = synthetic_trips(8, "2024-03-04", 1)
    tiny["fare_amount"] *= 3  # even with absurd fares and a collapsed volume
    result = evaluate_window(synthetic_baseline, tiny, 24)
    assert result["status"] == "too_few_rows" and not result["should_retrain"]
    assert not any(c["eligible"] for c in result["columns"].values())


def test_profile_rows_round_trip(synthetic_baseline):
    rows = profile_to_rows(synthetic_baseline, model_version=3)
    assert [row["column"] for row in rows] == list(PROFILE_COLUMNS)
    assert all(list(row) == list(ROW_COLUMNS) for row in rows)
    assert profile_from_rows(pd.DataFrame(rows)) == json.loads(json.dumps(synthetic_baseline))
    with pytest.raises(ValueError, match="several model versions"):
        profile_from_rows(rows + profile_to_rows(synthetic_baseline, model_version=4))


def test_pickup_month_is_never_eligible(synthetic_baseline):
    window = synthetic_trips(3000, "2024-07-01", 28, seed=1)
    result = evaluate_window(synthetic_baseline, window, 28 * 24)
    assert result["columns"]["pickup_month"]["eligible"] is False
    assert result["columns"]["pickup_month"]["ks_stat"] == pytest.approx(1.0)
    assert not result["should_retrain"], result["fired"]


def test_calendar_columns_ineligible_under_a_week(synthetic_baseline):
    saturday = synthetic_trips(400, "2024-03-09", 1, seed=2)
    result = evaluate_window(synthetic_baseline, saturday, 24)
    for column in ("pickup_dayofweek", "is_weekend", "is_rush_hour"):
        assert result["columns"][column]["eligible"] is False
    assert result["columns"]["pickup_hour"]["eligible"] and not result["should_retrain"]
    week = evaluate_window(synthetic_baseline, synthetic_trips(1500, "2024-03-04", 7, seed=3), 168)
    assert all(week["columns"][c]["eligible"] for c in ("pickup_dayofweek", "is_weekend"))
    assert not week["should_retrain"], week["fired"]


def test_a_baseline_missing_weekdays_compares_only_the_days_it_knows():
    # The holdout of a one-week training window: about a day and a half, one whole Monday.
    held = synthetic_trips(500, "2024-03-10 14:00", 1.4, seed=6)
    short = build_baseline(held[list(FEATURE_COLUMNS)], held["prediction"].to_numpy(),
                           held["fare_amount"].to_numpy(), held["time"])
    week = synthetic_trips(2500, "2024-03-12", 7, seed=7)
    result = evaluate_window(short, week, 168)
    assert result["compared_rows"] == int((week["pickup_dayofweek"] == 2).sum())
    for column in ("pickup_dayofweek", "is_weekend", "is_rush_hour"):
        assert result["columns"][column]["eligible"] is False
    assert result["columns"]["pickup_hour"]["stratified"] and not result["should_retrain"], result["fired"]


def test_ks_matches_scipy_on_continuous_data():
    rng = np.random.default_rng(5)
    base, window = rng.normal(0, 1, 4000), rng.normal(0.15, 1, 600)
    d, p = drift_rules.ks_test(window, [drift_rules.sketch(base, 1001)], np.ones(1), len(base))
    reference = stats.ks_2samp(window, base, method="asymp")
    assert d == pytest.approx(reference.statistic, abs=0.002)
    assert p == pytest.approx(reference.pvalue, rel=0.2)


def test_fired_rules_record_their_values(synthetic_baseline):
    window = synthetic_trips(1500, "2024-03-04", 7, seed=4)
    window["fare_amount"] *= 1.3
    result = evaluate_window(synthetic_baseline, window, 168)
    assert result["should_retrain"]
    fired = {f["rule"]: f for f in result["fired"]}
    assert fired["fare_level"]["value"] == pytest.approx(np.log(1.3), abs=0.03)
    assert fired["fare_level"]["threshold"] == drift_rules.FARE_LEVEL_MIN_SHIFT
    assert fired["fare_level"]["pvalue"] < result["alpha_per_test"]
    json.dumps(result, allow_nan=False)


# ---- the 2019 TLC replay -------------------------------------------------------------------

def load_month(month: int) -> pd.DataFrame:
    start = pd.Timestamp(2019, month, 1)
    return read_clean_trips(str(DATA / f"yellow_tripdata_sample_2019-{month:02d}.csv"), start, start + pd.offsets.MonthBegin())


class Replay:
    def __init__(self):
        history = pd.concat([load_month(m) for m in (1, 2)], ignore_index=True)
        fit, holdout = time_ordered_split(history, "tpep_pickup_datetime", 0.2)
        X = compute_features(fit)[list(FEATURE_COLUMNS)].to_numpy(float)
        params = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20}
        self.model = build_model(list(FEATURE_COLUMNS), params).fit(X, fit["fare_amount"].to_numpy())
        held = self.score(holdout)
        self.baseline = build_baseline(held[list(FEATURE_COLUMNS)], held["prediction"].to_numpy(),
                                       held["fare_amount"].to_numpy(), held["time"])
        later = pd.concat([load_month(m) for m in range(3, 13)], ignore_index=True)
        self.trips = later.sort_values("tpep_pickup_datetime", kind="stable").reset_index(drop=True)
        self.scored = self.score(self.trips)

    def score(self, trips: pd.DataFrame) -> pd.DataFrame:
        frame = compute_features(trips)[list(FEATURE_COLUMNS)]
        frame["prediction"] = self.model.predict(frame.to_numpy(float))
        frame["fare_amount"] = trips["fare_amount"].to_numpy(float)
        frame["time"] = trips["tpep_pickup_datetime"].to_numpy()
        return frame.reset_index(drop=True)

    def windows(self, days: int, frame: pd.DataFrame | None = None, first_only=False) -> list[dict]:
        frame = self.scored if frame is None else frame
        times = frame["time"].to_numpy()
        starts = pd.date_range("2019-03-04" if first_only else "2019-03-01",
                               pd.Timestamp("2020-01-01") - pd.Timedelta(days=days), freq=f"{days}D")
        results = []
        for start in starts[:1] if first_only else starts:
            end = start + pd.Timedelta(days=days)
            lo, hi = np.searchsorted(times, [start.to_datetime64(), end.to_datetime64()])
            results.append(evaluate_window(self.baseline, frame.iloc[lo:hi], days * 24.0))
        return results

    def first_windows(self, trips: pd.DataFrame) -> list[dict]:
        """The first weekly and the first daily window holding a shift that starts 2019-03-04."""
        week = trips[(trips["tpep_pickup_datetime"] >= "2019-03-04")
                     & (trips["tpep_pickup_datetime"] < "2019-03-11")]
        frame = self.score(week)
        return [self.windows(7, frame, first_only=True)[0], self.windows(1, frame, first_only=True)[0]]


@pytest.fixture(scope="module")
def replay() -> Replay:
    if not DATA.is_dir():
        pytest.skip(f"the 2019 TLC samples are not at {DATA}")
    return Replay()


def test_ordinary_2019_weeks_do_not_fire(replay):
    results = replay.windows(7)
    assert len(results) == 43
    assert [r["fired"] for r in results if r["should_retrain"]] == []
    # ...while the exemplar's z over the standard error calls every ordinary week drift
    assert sum(r["exemplar_alert_stderr"] for r in results) > 0.8 * len(results)
    assert not any(r["exemplar_alert"] for r in results)


def test_ordinary_2019_days_fire_at_most_5_percent(replay):
    results = replay.windows(1)
    assert len(results) == 306
    json.dumps(results, allow_nan=False)
    assert sum(r["should_retrain"] for r in results) <= 0.05 * len(results)


def first_fired(results: list[dict]) -> list[set[str]]:
    assert all(r["should_retrain"] for r in results), [r["fired"] for r in results]
    return [{f["rule"] for f in r["fired"]} for r in results]


def test_changed_pickup_hour_mix_is_detected(replay):
    trips = replay.trips
    weight = np.where(trips["tpep_pickup_datetime"].dt.hour.isin([20, 21, 22, 23, 0, 1, 2, 3, 4, 5]), 3.0, 1.0)
    pick = np.random.default_rng(0).choice(len(trips), len(trips), p=weight / weight.sum())
    for result in replay.first_windows(trips.iloc[np.sort(pick)]):
        assert {(f["rule"], f["column"]) for f in result["fired"]} & {("ks", "pickup_hour"), ("psi", "pickup_hour")}


def test_longer_trips_are_detected(replay):
    trips = replay.trips.copy()
    trips["fare_amount"] += 2.5 * 0.5 * trips["trip_distance"]
    trips["trip_distance"] *= 1.5
    for result in replay.first_windows(trips):
        assert {(f["rule"], f["column"]) for f in result["fired"]} & {("ks", "trip_distance"), ("psi", "trip_distance")}


def test_fare_rule_change_is_detected_by_label_rules(replay):
    rules = first_fired(replay.first_windows(replay.trips.assign(fare_amount=replay.trips["fare_amount"] * 1.2)))
    assert all(r <= {"fare_level", "mae_rise"} and "fare_level" in r for r in rules)


def test_volume_collapse_is_detected(replay):
    rules = first_fired(replay.first_windows(replay.trips.iloc[::10]))
    assert all("volume" in r for r in rules)


def test_a_window_shorter_than_a_day_judges_no_distribution():
    rng = np.random.default_rng(3)
    times = pd.Series(pd.date_range("2016-01-04", "2016-01-18", freq="3min", inclusive="left"))
    trips = pd.DataFrame({"tpep_pickup_datetime": times, "trip_distance": rng.gamma(2.0, 1.4, len(times))})
    features = compute_features(trips)
    fares = 2.5 + 2.6 * trips["trip_distance"].to_numpy()
    baseline = build_baseline(features[list(FEATURE_COLUMNS)], fares, fares + rng.normal(0, 1, len(fares)), times)
    morning = features[(times >= "2016-01-18") | (times.dt.hour < 12)].iloc[-200:].copy()
    morning["prediction"] = 2.5 + 2.6 * morning["trip_distance"]
    morning["fare_amount"] = morning["prediction"] + rng.normal(0, 1, len(morning))
    result = evaluate_window(baseline, morning, window_hours=12)
    assert not any(stats["eligible"] for stats in result["columns"].values())
    assert result["should_retrain"] is False
