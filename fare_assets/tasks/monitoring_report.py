"""What a monitoring run shows besides its row: the drift chart, in the Dagster UI and in MLflow."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pandas as pd

from fare_assets.ml.drift_chart import drift_chart

HISTORY_WINDOWS = 12


def render_chart(baseline: dict, window: pd.DataFrame, history: pd.DataFrame | None, row: dict,
                 version: int) -> bytes:
    """The chart of this window, with the MAE of the previous monitoring windows beside it."""
    current = pd.DataFrame([{k: row[k] for k in ("window_end", "mae", "should_retrain")}])
    previous = (history.sort_values("window_end")[["window_end", "mae", "should_retrain"]]
                if history is not None and len(history) else current.iloc[:0])
    recent = pd.concat([previous.tail(HISTORY_WINDOWS - 1), current], ignore_index=True)
    title = (f"model version {version}: window {row['window_start']:%Y-%m-%d %H:%M} .. "
             f"{row['window_end']:%Y-%m-%d %H:%M}, {row['rows']:,} trips, {row['status']}"
             + (f", fired: {', '.join(json.loads(row['fired']))}" if row["should_retrain"] else ""))
    return drift_chart(baseline, window, recent, title)


def chart_markdown(png: bytes) -> dict:
    encoded = base64.b64encode(png).decode("ascii")
    return {"raw_value": f"![drift chart](data:image/png;base64,{encoded})", "type": "md"}


def log_to_mlflow(registry, png: bytes, row: dict, result: dict, version: int) -> str:
    """One `monitoring` run per window in the project's experiment, tagged with version and window;
    returns the run's link in the tracking UI."""
    import mlflow

    registry.connect()
    tags = {"fare_assets.kind": "monitoring", "model_version": str(version),
            "window_start": str(row["window_start"]), "window_end": str(row["window_end"]),
            "status": row["status"], "should_retrain": str(row["should_retrain"]),
            "fired": ",".join(json.loads(row["fired"]))}
    metrics = {k: float(result[k]) for k in ("mae", "volume_ratio", "fare_level_shift") if result.get(k) is not None}
    with mlflow.start_run(run_name=f"monitoring {row['window_end']:%Y-%m-%d %H:%M}", tags=tags) as run:
        mlflow.log_metrics({"rows": float(row["rows"]), "should_retrain": float(row["should_retrain"]), **metrics})
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "drift_chart.png"
            path.write_bytes(png)
            mlflow.log_artifact(str(path), artifact_path="monitoring")
        mlflow.log_dict(json.loads(json.dumps(result, default=str)), "monitoring/drift_details.json")
    return registry.run_link(run.info.experiment_id, run.info.run_id)
