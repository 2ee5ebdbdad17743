"""feature_table: the training window's trips, cleaned and featurized, as a table."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import FEATURE_TABLE
from fare_assets.clock import Window, reach_back_start, training_window
from fare_assets.ml.features import load_features
from fare_assets.ml.schema import PICKUP_TIME
from fare_assets.tasks.common import as_json, markdown_preview, md, table_metadata
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings
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
        requested = training_window(source.default_training_window(), settings.train_start, settings.train_end)
        min_rows = int(param(context, "min_rows") or 0)
        context.log.info(f"reading {source.name} for the training window {requested}")
        features, rejected = load_features(source, requested.start, requested.end, settings.with_locations,
                                           with_unplaceable=True)
        window = requested
        if len(features) < min_rows:
            earliest = requested.end - timedelta(days=settings.retrain_days)
            start = reach_back(source, requested, features, min_rows, earliest, settings.with_locations)
            window = Window(start, requested.end)
            context.log.info(f"{len(features):,} clean trips in {requested}, fewer than {min_rows:,}: "
                             f"reaching back to {window.start} (at most to {earliest})")
            features, rejected = load_features(source, window.start, window.end, settings.with_locations,
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
                **reach_back_metadata(requested, window, min_rows, param(context, "shift_start")),
                "source": source.name,
                **table_metadata(store, FEATURE_TABLE),
                "preview": md(markdown_preview(features)),
            },
            data_version=content_version(features),
        )


def reach_back(source, requested: Window, inside: pd.DataFrame, min_rows: int, earliest: pd.Timestamp,
               location: bool) -> pd.Timestamp:
    """The latest whole day before the requested start from which the window holds `min_rows` clean
    trips, no earlier than `earliest`: read back a day, then two, four... (each span once), then
    pick the day. Trips since the requested start (the shift) are kept whole."""
    daily, start, step = [inside[PICKUP_TIME].dt.floor("D").value_counts()], requested.start, timedelta(days=1)
    rows = len(inside)
    while rows < min_rows and start > earliest:
        span_start = max(start - step, earliest)
        extra = load_features(source, span_start, start, location)[0]
        daily.append(extra[PICKUP_TIME].dt.floor("D").value_counts())
        rows, start, step = rows + len(extra), span_start, step * 2
    counts = pd.concat(daily).groupby(level=0).sum()
    candidate = reach_back_start(counts, requested.start.floor("D"), min_rows)
    return max(candidate, earliest.floor("D")) if rows >= min_rows else start


def reach_back_metadata(requested: Window, window: Window, min_rows: int, shift_start: str | None) -> dict:
    if not min_rows and not shift_start:
        return {}
    return {"shift_start": shift_start or "unknown", "requested_start": str(requested.start), "min_rows": min_rows,
            "reached_back_days": round((requested.start - window.start) / timedelta(days=1), 2)}


if __name__ == "__main__":
    run_task(main)
