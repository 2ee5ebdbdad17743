"""feature_table: the training window's trips, cleaned and featurized, as a table."""

from __future__ import annotations

from datetime import date

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import FEATURE_TABLE
from fare_assets.clock import training_window
from fare_assets.ml.features import load_features
from fare_assets.tasks.common import as_json, markdown_preview, md, table_metadata
from fare_assets.tasks.pipes import open_task_pipes, param, task_settings
from fare_assets.versions import content_version


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        if param(context, "train_start") or param(context, "train_end"):
            settings = settings.with_training_window(
                date.fromisoformat(param(context, "train_start")),
                date.fromisoformat(param(context, "train_end")),
            )
        target = open_target(settings)
        source = target.trip_source()
        window = training_window(source.default_training_window(), settings.train_start, settings.train_end)
        context.log.info(f"reading {source.name} for the training window {window}")
        features, rejected = load_features(source, window.start, window.end, settings.location_features,
                                           with_unplaceable=True)
        if features.empty:
            raise ValueError(f"no clean trips in the training window {window} of {source.name}")
        features["window_start"], features["window_end"] = window.start, window.end
        context.log.info(f"{len(features):,} clean trips, {sum(rejected.values()):,} rejected: {rejected}")
        store = target.table_store()
        store.overwrite(FEATURE_TABLE, features)
        context.log.info(f"wrote {store.location(FEATURE_TABLE)}")
        context.report_asset_materialization(
            metadata={
                "rows": len(features),
                "rejected_rows": sum(rejected.values()),
                "rejected_by_reason": as_json(rejected),
                # Included in rejected_by_reason: rows with no pickup time belong to no window.
                "rows_in_no_window": as_json(source.unplaceable_rows()),
                "window_start": str(window.start),
                "window_end": str(window.end),
                "source": source.name,
                **table_metadata(store, FEATURE_TABLE),
                "preview": md(markdown_preview(features)),
            },
            data_version=content_version(features),
        )


if __name__ == "__main__":
    main()
