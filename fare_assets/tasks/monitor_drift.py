"""model_monitoring: compare the last monitoring window with the baseline of the version that scored it."""

from __future__ import annotations

import json

import pandas as pd

from fare_assets.backends import open_target
from fare_assets.backends.history import read_history
from fare_assets.backends.interfaces import BASELINE_TABLE, MONITORING_TABLE, PREDICTIONS_TABLE, WATERMARK_TABLE
from fare_assets.clock import monitoring_window
from fare_assets.ml.drift import evaluate_window, profile_from_rows
from fare_assets.ml.drift_checks import check_outcomes, fired_rules
from fare_assets.ml.schema import PICKUP_TIME
from fare_assets.tasks.common import as_json, rounded, table_metadata
from fare_assets.tasks.monitoring_report import report, window_chart_data
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings


# Explicit types: a "no data" row is all nulls, and must still append to the same schema.
MONITORING_DTYPES = {
    "model_version": "Int64", "rows": "int64", "prediction_drift_z": "float64", "feature_drift_z": "float64",
    "mae": "float64", "mae_degradation": "float64", "exemplar_alert": "bool", "should_retrain": "bool",
}


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        target = open_target(settings)
        store = target.table_store()
        span = monitoring_window(read_history(store), settings.monitor_window)
        start, watermark = span.start, span.end
        window = window_predictions(store, start, watermark)
        # A window scored by two versions (a retrain inside it) is judged on the newer one's trips.
        version = int(window["model_version"].max()) if len(window) else last_scoring_version(store)
        window = window[window["model_version"] == version]
        baseline = profile_of(store, version)
        context.log.info(f"judging {len(window):,} scored trips of {span} against the baseline of version {version}")
        result = evaluate_window(baseline, window, span.hours)
        context.log.info(f"{result['status']}: " + (f"retraining requested, fired {fired_rules(result)}"
                                                   if result["should_retrain"] else "no rule fired"))
        row = monitoring_row(result, start, watermark, version if len(window) else None)
        history = store.read(MONITORING_TABLE)
        store.append(MONITORING_TABLE, pd.DataFrame([row]).astype(MONITORING_DTYPES))
        chart = window_chart_data(baseline, window, history, row, version)
        details = json.loads(row["details"])
        # The chart and the window's MLflow run: made here when the target says so (Databricks: next
        # to the workspace's MLflow); otherwise by the Dagster side, from chart_data and details.
        shown = (report(target.registry(), chart, details, version, str(start), str(watermark))
                 if param(context, "report_in_task", True) else {"chart_data": as_json(chart)})
        context.report_asset_materialization(metadata={
            "status": result["status"], "rows": int(result["rows"]),
            "should_retrain": bool(result["should_retrain"]), "fired": as_json(fired_rules(result)),
            "mae": rounded(result["mae"]) if result["mae"] is not None else "no rows",
            "window_start": str(start), "window_end": str(watermark),
            "watermark": str(watermark), "model_version": version,
            **shown,
            "details": as_json(details),
            **table_metadata(store, MONITORING_TABLE),
        })
        # Every declared check, every run: a rule that was not judged passes and says so.
        for outcome in check_outcomes(result):
            context.report_asset_check(severity="WARN", **outcome)


def last_scoring_version(store) -> int:
    """An empty window is still judged and charted: against the version that scored last."""
    scored = store.read(WATERMARK_TABLE)
    if scored is not None and len(scored):
        return int(scored.sort_values("window_end")["model_version"].iloc[-1])
    versions = store.read(BASELINE_TABLE)
    if versions is None or versions.empty:
        raise RuntimeError("no training_baseline rows: run the training job first")
    return int(versions["model_version"].max())


def profile_of(store, version: int) -> dict:
    baseline = store.read(BASELINE_TABLE, filters=[("model_version", "=", version)])
    if baseline is None or baseline.empty:
        raise RuntimeError(f"no training_baseline rows for model version {version}")
    return profile_from_rows(baseline)


def window_predictions(store, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    frame = store.read(PREDICTIONS_TABLE, filters=[(PICKUP_TIME, ">=", start), (PICKUP_TIME, "<", end)])
    return frame if frame is not None else pd.DataFrame(columns=[PICKUP_TIME, "model_version"])


def monitoring_row(result: dict, start, end, version) -> dict:
    def number(key):
        value = result.get(key)
        return float(value) if value is not None else None

    return {
        "monitored_at": pd.Timestamp.now("UTC").tz_localize(None), "window_start": start, "window_end": end,
        "model_version": version, "rows": int(result["rows"]), "status": result["status"],
        "prediction_drift_z": number("exemplar_prediction_drift_z"),
        "feature_drift_z": number("exemplar_feature_drift_z"),
        "mae": number("mae"), "mae_degradation": number("exemplar_mae_degradation"),
        "exemplar_alert": bool(result.get("exemplar_alert", False)),
        "should_retrain": bool(result["should_retrain"]),
        "fired": json.dumps(fired_rules(result)),
        "details": json.dumps(result, default=str),
    }


if __name__ == "__main__":
    run_task(main)
