"""Drift rules as asset checks, and the drift chart: pure functions on evaluate_window results."""

import pandas as pd

from fare_assets.ml.drift import evaluate_window
from fare_assets.ml.drift_chart import drift_chart
from fare_assets.ml.drift_checks import CHECKS, check_outcomes
from fare_assets_tests.ml.conftest import synthetic_trips

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_fired_rule_fails_its_check_with_the_evidence_and_every_other_check_passes(synthetic_baseline):
    window = synthetic_trips(1500, "2024-03-04", 7, seed=4)
    window["fare_amount"] *= 1.3
    outcomes = {o["check_name"]: o for o in check_outcomes(evaluate_window(synthetic_baseline, window, 168))}
    assert list(outcomes) == list(CHECKS)
    assert outcomes["drift_fare_level"]["passed"] is False
    assert outcomes["drift_fare_level"]["metadata"]["threshold"] == 0.1
    assert outcomes["drift_fare_level"]["metadata"]["pvalue"] < outcomes["drift_fare_level"]["metadata"]["alpha"]
    assert outcomes["drift_ks"]["passed"] and outcomes["drift_ks"]["metadata"]["judged"]


def test_an_empty_window_passes_every_check_unjudged(synthetic_baseline):
    outcomes = check_outcomes(evaluate_window(synthetic_baseline, synthetic_trips(0, "2024-03-04", 1), 24))
    assert len(outcomes) == len(CHECKS)
    assert all(o["passed"] and o["metadata"] == {"status": "no_data", "rows": 0, "judged": False} for o in outcomes)


def test_the_chart_is_a_png_with_or_without_trips_and_history(synthetic_baseline):
    history = pd.DataFrame({"window_end": pd.date_range("2024-03-01", periods=3, freq="7D"),
                            "mae": [1.1, None, 2.5], "should_retrain": [False, False, True]})
    week = synthetic_trips(800, "2024-03-04", 7, seed=8)
    assert drift_chart(synthetic_baseline, week, history, "a week").startswith(PNG)
    assert drift_chart(synthetic_baseline, week.iloc[:0], history.iloc[:0], "nothing").startswith(PNG)
