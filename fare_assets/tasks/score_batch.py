"""predictions: score the next batch window after the watermark with the Champion, idempotently."""

from __future__ import annotations

import pandas as pd

from fare_assets.backends import open_target
from fare_assets.backends.history import read_history
from fare_assets.backends.interfaces import CHAMPION, PREDICTIONS_TABLE, WATERMARK_TABLE
from fare_assets.clock import batch_window, required_watermark, scored_at_now, waits_for_horizon
from fare_assets.tasks.common import as_json, table_metadata
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        target = open_target(settings)
        store = target.table_store()
        watermark = required_watermark(read_history(store))
        window = batch_window(param(context, "window_start") or watermark, settings.batch_window)
        source = target.trip_source()
        horizon = source.horizon()
        if waits_for_horizon(window, horizon):
            context.log.info(f"waiting: {window} ends after the source's data horizon {horizon}")
            context.report_asset_materialization(metadata={
                "rows": 0, "window_start": str(window.start), "window_end": str(window.end),
                "watermark": str(watermark), "data_horizon": str(horizon),
                "status": f"waiting: the window ends after the source's data horizon {horizon}"})
            return
        registry = target.registry()
        version = registry.alias_version(CHAMPION)
        if version is None:
            raise RuntimeError(f"{settings.registered_model_name} has no Champion: run the training job first")
        context.log.info(f"scoring {window} of {source.name} with Champion v{version}")
        result = target.batch_scorer(source, store, registry).score(window.start, window.end, version)
        context.log.info(f"{result.rows:,} trips scored, {result.inserted:,} new, rejected {result.rejected}")
        # One watermark row per window, even when two runs score the same window at once.
        store.insert_new(WATERMARK_TABLE, pd.DataFrame([{
            "window_start": window.start, "window_end": window.end, "rows": result.rows,
            "inserted": result.inserted, "model_version": version, "scored_at": scored_at_now()}]),
            key="window_start")
        context.report_asset_materialization(metadata={
            "rows": result.rows, "rows_inserted": result.inserted, "rejected_by_reason": as_json(result.rejected),
            "window_start": str(window.start), "window_end": str(window.end),
            "watermark": str(max(watermark, window.end)), "model_version": version,
            "data_horizon": str(horizon) if horizon is not None else "none (endless source)",
            "batch_mae": round(result.mae, 4) if result.mae is not None else "no rows",
            **table_metadata(store, PREDICTIONS_TABLE),
        })


if __name__ == "__main__":
    run_task(main)
