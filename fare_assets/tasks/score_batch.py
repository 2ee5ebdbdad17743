"""predictions: score the next batch window after the watermark with the Champion, idempotently."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from fare_assets.databricks import batch as spark_batch
from fare_assets.ml.evaluation import regression_metrics
from fare_assets.ml.schema import LABEL
from fare_assets.tasks.common import (
    PREDICTIONS_TABLE, WATERMARK_TABLE, as_json, required_watermark, load_features, model_inputs, open_source,
)
from fare_assets.tasks.pipes import open_task_pipes, param, task_settings
from fare_assets.tasks.registry import CHAMPION, alias_version, connect, load_version
from fare_assets.tasks.storage import open_table_store


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        store = open_table_store(settings)
        watermark = required_watermark(store, settings)
        start = pd.Timestamp(param(context, "window_start") or watermark)
        end = start + settings.batch_window
        source = open_source(settings)
        data_end = source.extent()[1]
        if data_end is not None and start >= data_end:
            context.report_asset_materialization(metadata={
                "rows": 0, "window_start": str(start), "window_end": str(end),
                "watermark": str(watermark), "status": f"source exhausted at {data_end}"})
            return
        client = connect(settings)
        version = alias_version(client, settings.registered_model_name, CHAMPION)
        if version is None:
            raise RuntimeError(f"{settings.registered_model_name} has no Champion: run the training job first")
        if settings.target == "databricks":  # the same window scored in Spark, with spark_udf
            return spark_batch.run(context, settings, store, source, start, end, watermark, version)
        features, rejected = load_features(source, start, end, settings)
        scored = score(features, load_version(settings.registered_model_name, version), version, settings)
        inserted = store.insert_new(PREDICTIONS_TABLE, scored, key="trip_id") if len(scored) else 0
        store.append(WATERMARK_TABLE, pd.DataFrame([{
            "window_start": start, "window_end": end, "rows": len(scored), "inserted": inserted,
            "model_version": version, "scored_at": scored_at_now()}]))
        mae = regression_metrics(scored[LABEL], scored["prediction"])["mae"] if len(scored) else None
        context.report_asset_materialization(metadata={
            "rows": len(scored), "rows_inserted": inserted, "rejected_by_reason": as_json(rejected),
            "window_start": str(start), "window_end": str(end),
            "watermark": str(max(watermark, end)), "model_version": version,
            "batch_mae": round(mae, 4) if mae is not None else "no rows",
        })


def score(features: pd.DataFrame, model, version: int, settings) -> pd.DataFrame:
    scored = features.copy()
    scored["prediction"] = model.predict(model_inputs(features, settings)) if len(features) else []
    scored["model_version"] = version
    scored["scored_at"] = scored_at_now()
    return scored


def scored_at_now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(timezone.utc).replace(tzinfo=None))


if __name__ == "__main__":
    main()
