"""Drift rules as asset checks, and the drift chart: pure functions on evaluate_window results."""

import json

import pandas as pd

from fare_assets.ml.drift import evaluate_window
from fare_assets.ml.drift_chart import chart_data, render
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


def test_the_chart_is_json_data_where_the_window_is_and_a_png_wherever_it_is_drawn(synthetic_baseline):
    history = pd.DataFrame({"window_end": pd.date_range("2024-03-01", periods=3, freq="7D"),
                            "mae": [1.1, None, 2.5], "should_retrain": [False, False, True]})
    week = synthetic_trips(800, "2024-03-04", 7, seed=8)
    data = chart_data(synthetic_baseline, week, history, "a week")
    assert json.loads(json.dumps(data)) == data  # it travels as Pipes metadata
    assert data["prediction"]["window_rows"] == data["pickup_hour"]["window_rows"] == 800
    assert [h["mae"] for h in data["history"]] == [1.1, 2.5]  # a window without MAE has no point
    # Densities: each histogram integrates to one over its bins, outliers in the end bins.
    for column in ("prediction", "pickup_hour"):
        widths = pd.Series(data[column]["edges"]).diff().dropna().to_numpy()
        for side in ("baseline", "window"):
            assert abs(float((widths * data[column][side]).sum()) - 1) < 1e-9
    assert render(data).startswith(PNG)
    empty = chart_data(synthetic_baseline, week.iloc[:0], history.iloc[:0], "nothing")
    assert empty["prediction"]["window"] is None and empty["history"] == []
    assert render(empty).startswith(PNG)
