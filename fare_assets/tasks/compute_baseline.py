"""training_baseline: what the training window and this version's held-out predictions look like."""

from __future__ import annotations

import pandas as pd

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import BASELINE_TABLE, FEATURE_TABLE
from fare_assets.ml.drift import build_baseline, profile_to_rows
from fare_assets.ml.features import predict_features
from fare_assets.ml.schema import LABEL, PICKUP_TIME
from fare_assets.tasks.common import holdout_slice, table_metadata
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        version = int(param(context, "model_version"))
        target = open_target(settings)
        store = target.table_store()
        _, holdout = holdout_slice(store.read(FEATURE_TABLE))
        context.log.info(f"profiling {len(holdout):,} held-out trips with version {version}")
        model = target.registry().load_version(version)
        profile, rows = write_baseline(store, version, holdout, predict_features(model, holdout))
        context.log.info(f"baseline of version {version}: {rows} profile rows, holdout MAE ${profile['mae']:.2f}")
        context.report_asset_materialization(
            metadata={
                "model_version": version,
                "holdout_rows": len(holdout),
                "columns_profiled": rows,
                "holdout_mae": round(float(profile["mae"]), 4),
                **table_metadata(store, BASELINE_TABLE),
            }
        )


def write_baseline(store, version: int, trips: pd.DataFrame, predictions) -> tuple[dict, int]:
    """The profile monitoring judges `version` against, from its predictions on `trips` (every trip
    of a contiguous time slice it was not fitted on). One set of rows per version: writing a
    version's baseline again replaces it."""
    profile = build_baseline(trips, predictions, trips[LABEL].to_numpy(), trips[PICKUP_TIME])
    rows = pd.DataFrame(profile_to_rows(profile, version))
    store.overwrite(BASELINE_TABLE, rows, where=f"model_version = {version}")
    return profile, len(rows)


if __name__ == "__main__":
    run_task(main)
