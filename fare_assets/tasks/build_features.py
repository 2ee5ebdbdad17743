"""feature_table: the training window's trips, cleaned and featurized, as a table."""

from __future__ import annotations

from datetime import date

import pandas as pd

from fare_assets.tasks.common import FEATURE_TABLE, as_json, load_features, markdown_preview, md, open_source, training_window
from fare_assets.tasks.pipes import open_task_pipes, param, task_settings
from fare_assets.tasks.storage import open_table_store


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        if param(context, "train_start") or param(context, "train_end"):
            settings = settings.with_training_window(
                date.fromisoformat(param(context, "train_start")),
                date.fromisoformat(param(context, "train_end")),
            )
        source = open_source(settings)
        start, end = training_window(settings, source)
        features, rejected = load_features(source, start, end, settings)
        if features.empty:
            raise ValueError(f"no clean trips in the training window {start} .. {end} of {source.name}")
        features["window_start"], features["window_end"] = start, end
        store = open_table_store(settings)
        store.overwrite(FEATURE_TABLE, features)
        context.report_asset_materialization(
            metadata={
                "rows": len(features),
                "rejected_rows": sum(rejected.values()),
                "rejected_by_reason": as_json(rejected),
                "window_start": str(start),
                "window_end": str(end),
                "source": source.name,
                "table": store.location(FEATURE_TABLE),
                "preview": md(markdown_preview(features)),
            }
        )


def window_of(features: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(features["window_start"].iloc[0]), pd.Timestamp(features["window_end"].iloc[0])


if __name__ == "__main__":
    main()
