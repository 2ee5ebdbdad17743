"""model_monitoring: compare the last monitoring window with the baseline of the version that scored it."""

from __future__ import annotations

import json

import pandas as pd

from fare_assets.ml.drift import evaluate_window, profile_from_rows
from fare_assets.ml.schema import PICKUP_TIME
from fare_assets.tasks.common import (
    BASELINE_TABLE, MONITORING_TABLE, PREDICTIONS_TABLE, WATERMARK_TABLE, as_json, current_watermark,
)
from fare_assets.tasks.pipes import open_task_pipes, task_settings
from fare_assets.tasks.score_batch import scored_at_now
from fare_assets.tasks.storage import open_table_store


# Explicit types: a "no data" row is all nulls, and must still append to the same schema.
MONITORING_DTYPES = {
    "model_version": "Int64", "rows": "int64", "prediction_drift_z": "float64", "feature_drift_z": "float64",
    "mae": "float64", "mae_degradation": "float64", "seed_alert": "bool", "should_retrain": "bool",
}


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        store = open_table_store(settings)
        watermark = current_watermark(store, settings)
        if watermark is None:
            raise RuntimeError("no watermark yet: run the training job and batch inference first")
        start = monitoring_start(store, watermark, settings.monitor_window)
        window = window_predictions(store, start, watermark)
        version = int(window["model_version"].max()) if len(window) else None
        result = {"status": "no_data", "rows": 0, "should_retrain": False, "fired": []}
        if version is not None:
            window = window[window["model_version"] == version]
            baseline = store.read(BASELINE_TABLE, filters=[("model_version", "=", version)])
            if baseline is None or baseline.empty:
                raise RuntimeError(f"no training_baseline rows for model version {version}")
            hours = (watermark - start).total_seconds() / 3600
            result = evaluate_window(profile_from_rows(baseline), window, hours)
        row = monitoring_row(result, start, watermark, version)
        store.append(MONITORING_TABLE, pd.DataFrame([row]).astype(MONITORING_DTYPES))
        context.report_asset_materialization(metadata={
            "status": result["status"], "rows": int(result["rows"]),
            "should_retrain": bool(result["should_retrain"]),
            "fired": as_json([f["rule"] for f in result["fired"]]),
            "window_start": str(start), "window_end": str(watermark), "watermark": str(watermark),
            "model_version": version if version is not None else "none",
            "details": as_json(json.loads(row["details"])),
        })


def monitoring_start(store, watermark: pd.Timestamp, monitor_window) -> pd.Timestamp:
    """The monitoring window, clipped to data time that batch scoring has covered: before the
    first scored window there are no predictions, and counting it would fake a volume drop."""
    scored = store.read(WATERMARK_TABLE)
    first_scored = pd.Timestamp(scored["window_start"].min()) if scored is not None and len(scored) else watermark
    return max(watermark - monitor_window, first_scored)


def window_predictions(store, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    frame = store.read(PREDICTIONS_TABLE, filters=[(PICKUP_TIME, ">=", start), (PICKUP_TIME, "<", end)])
    return frame if frame is not None else pd.DataFrame(columns=[PICKUP_TIME, "model_version"])


def monitoring_row(result: dict, start, end, version) -> dict:
    def number(key):
        value = result.get(key)
        return float(value) if value is not None else None

    return {
        "monitored_at": scored_at_now(), "window_start": start, "window_end": end,
        "model_version": version, "rows": int(result["rows"]), "status": result["status"],
        "prediction_drift_z": number("seed_prediction_drift_z"),
        "feature_drift_z": number("seed_feature_drift_z"),
        "mae": number("mae"), "mae_degradation": number("seed_mae_degradation"),
        "seed_alert": bool(result.get("seed_alert", False)),
        "should_retrain": bool(result["should_retrain"]),
        "fired": json.dumps([f["rule"] for f in result["fired"]]),
        "details": json.dumps(result, default=str),
    }


if __name__ == "__main__":
    main()
