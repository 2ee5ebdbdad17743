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
        predictions = predict_features(model, holdout)
        profile = build_baseline(
            holdout, predictions,
            holdout[LABEL].to_numpy(), holdout[PICKUP_TIME],
        )
        rows = pd.DataFrame(profile_to_rows(profile, version))
        # One set of rows per version: recomputing a version's baseline replaces it.
        store.overwrite(BASELINE_TABLE, rows, where=f"model_version = {version}")
        context.log.info(f"baseline of version {version}: {len(rows)} profile rows, holdout MAE ${profile['mae']:.2f}")
        context.report_asset_materialization(
            metadata={
                "model_version": version,
                "holdout_rows": len(holdout),
                "columns_profiled": len(rows),
                "holdout_mae": round(float(profile["mae"]), 4),
                **table_metadata(store, BASELINE_TABLE),
            }
        )


if __name__ == "__main__":
    run_task(main)
