"""What a monitoring run shows besides its row: the drift chart, in the Dagster UI and in MLflow.

The task bins the chart's data (`window_chart_data`); whoever reports the window renders it and
logs the MLflow run (`report`): the task itself on Databricks, the Dagster side locally
(resources.monitoring_reports), so that a local task imports neither matplotlib nor MLflow."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pandas as pd

from fare_assets.ml import drift_chart
from fare_assets.ml.drift_checks import fired_rules

HISTORY_WINDOWS = 12


def window_chart_data(baseline: dict, window: pd.DataFrame, history: pd.DataFrame | None, row: dict,
                      version: int) -> dict:
    """The chart's data for this window, with the MAE of the previous monitoring windows beside it."""
    current = pd.DataFrame([{k: row[k] for k in ("window_end", "mae", "should_retrain")}])
    previous = (history.sort_values("window_end")[["window_end", "mae", "should_retrain"]]
                if history is not None and len(history) else current.iloc[:0])
    recent = pd.concat([previous.tail(HISTORY_WINDOWS - 1), current], ignore_index=True)
    title = (f"model version {version}: window {row['window_start']:%Y-%m-%d %H:%M} .. "
             f"{row['window_end']:%Y-%m-%d %H:%M}, {row['rows']:,} trips, {row['status']}"
             + (f", fired: {', '.join(json.loads(row['fired']))}" if row["should_retrain"] else ""))
    return drift_chart.chart_data(baseline, window, recent, title)


def report(registry, chart: dict, details: dict, version: int, window_start: str, window_end: str) -> dict:
    """The window's chart and MLflow run, as metadata of its materialization."""
    png = drift_chart.render(chart)
    link = log_monitoring_run(registry, png, details, version, window_start, window_end)
    return {"drift_chart": chart_markdown(png), "mlflow_run": {"raw_value": link, "type": "url"}}


def chart_markdown(png: bytes) -> dict:
    encoded = base64.b64encode(png).decode("ascii")
    return {"raw_value": f"![drift chart](data:image/png;base64,{encoded})", "type": "md"}


def log_monitoring_run(registry, png: bytes, details: dict, version: int, window_start: str, window_end: str) -> str:
    """One `monitoring` run per window in the project's experiment, tagged with version and window;
    returns the run's link in the tracking UI. `details` is the window's result as JSON values.
    Through the client, not MLflow's fluent API: a long-lived Dagster process (replay) logs here for
    many homes in turn, and must not carry one home's active run or experiment into the next."""
    experiment_id = registry.experiment_id()
    client = registry.client()
    tags = {"fare_assets.kind": "monitoring", "model_version": str(version), "window_start": window_start,
            "window_end": window_end, "status": str(details["status"]),
            "should_retrain": str(bool(details["should_retrain"])), "fired": ",".join(fired_rules(details))}
    from mlflow.tracking.context.registry import resolve_tags

    # With the context tags (user, source) that mlflow.start_run would add (mlflow/tracking/fluent.py).
    run = client.create_run(experiment_id, run_name=f"monitoring {pd.Timestamp(window_end):%Y-%m-%d %H:%M}",
                            tags=resolve_tags(tags))
    run_id = run.info.run_id
    try:
        from mlflow.entities import Metric

        now = int(pd.Timestamp.now("UTC").timestamp() * 1000)
        metrics = {"rows": float(details["rows"]), "should_retrain": float(bool(details["should_retrain"])),
                   **{k: float(details[k]) for k in ("mae", "volume_ratio", "fare_level_shift")
                      if details.get(k) is not None}}
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "drift_chart.png"
            path.write_bytes(png)
            client.log_artifact(run_id, str(path), artifact_path="monitoring")
        client.log_dict(run_id, details, "monitoring/drift_details.json")
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    return registry.run_link(experiment_id, run_id)
