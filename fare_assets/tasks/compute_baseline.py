"""training_baseline: what the training window and this version's held-out predictions look like."""

from __future__ import annotations

import pandas as pd

from fare_assets.ml.drift import build_baseline, profile_to_rows
from fare_assets.ml.features import feature_columns
from fare_assets.ml.schema import LABEL, PICKUP_TIME
from fare_assets.tasks.common import BASELINE_TABLE, FEATURE_TABLE, holdout_slice, model_inputs
from fare_assets.tasks.pipes import open_task_pipes, param, task_settings
from fare_assets.tasks.registry import connect, load_version
from fare_assets.tasks.storage import open_table_store


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        version = int(param(context, "model_version"))
        connect(settings)
        store = open_table_store(settings)
        _, holdout = holdout_slice(store.read(FEATURE_TABLE))
        model = load_version(settings.registered_model_name, version)
        predictions = model.predict(model_inputs(holdout, settings))
        profile = build_baseline(
            holdout[feature_columns(settings.location_features)], predictions,
            holdout[LABEL].to_numpy(), holdout[PICKUP_TIME],
        )
        rows = pd.DataFrame(profile_to_rows(profile, version))
        # One set of rows per version: recomputing a version's baseline replaces it.
        store.overwrite(BASELINE_TABLE, rows, where=f"model_version = {version}")
        context.report_asset_materialization(
            metadata={
                "model_version": version,
                "holdout_rows": len(holdout),
                "columns_profiled": len(rows),
                "holdout_mae": round(float(profile["mae"]), 4),
                "table": store.location(BASELINE_TABLE),
            }
        )


if __name__ == "__main__":
    main()
