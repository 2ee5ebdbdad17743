"""What several tasks share: table names, the training window, the holdout slice, the watermark."""

from __future__ import annotations

import pandas as pd

from fare_assets.ml.features import compute_features, feature_columns
from fare_assets.ml.schema import LABEL, PICKUP_TIME, TRIP_ID
from fare_assets.ml.sources import clean_trips
from fare_assets.ml.trip_source import TripSource, open_trip_source
from fare_assets.settings import Settings

FEATURE_TABLE = "feature_table"
BASELINE_TABLE = "training_baseline"
PREDICTIONS_TABLE = "predictions"
WATERMARK_TABLE = "predictions_watermarks"
MONITORING_TABLE = "model_monitoring"
HOLDOUT_FRACTION = 0.2


def open_source(settings: Settings) -> TripSource:
    if settings.target == "databricks":
        from fare_assets.databricks.spark import UnityCatalogTripSource

        return UnityCatalogTripSource(settings)
    return open_trip_source(
        settings.source, cache_dir=settings.home / "cache",
        tlc_base_url=settings.tlc_base_url, scenario=settings.scenario,
    )


def training_window(settings: Settings, source: TripSource) -> tuple[pd.Timestamp, pd.Timestamp]:
    default_start, default_end = source.default_training_window()
    start = pd.Timestamp(settings.train_start) if settings.train_start else default_start
    end = pd.Timestamp(settings.train_end) if settings.train_end else default_end
    if not settings.train_end and settings.train_start:
        end = start + (default_end - default_start)
    return start, end


def featurize(trips: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Trip id, pickup time, the model's inputs and the actual fare, one row per clean trip."""
    features = compute_features(trips, include_location=settings.location_features)
    return pd.concat([trips[[TRIP_ID, PICKUP_TIME]], features, trips[[LABEL]]], axis=1)


def load_features(source: TripSource, start, end, settings: Settings):
    """Read, clean and featurize a window; return the frame and rejected rows by reason."""
    clean, rejected = clean_trips(source.read(start, end))
    return featurize(clean, settings), rejected


def model_inputs(frame: pd.DataFrame, settings: Settings):
    return frame[feature_columns(settings.location_features)].to_numpy(dtype="float64")


def holdout_slice(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fitting rows and the most recent held-out slice, shared by training and validation."""
    from fare_assets.ml.training import time_ordered_split  # sklearn: only tasks that split pay for it

    return time_ordered_split(features, PICKUP_TIME, HOLDOUT_FRACTION)


def markdown_preview(frame: pd.DataFrame, rows: int = 5) -> str:
    head = frame.head(rows).astype(str)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in head.itertuples(index=False)]
    return "\n".join(lines)


def md(text: str) -> dict:
    return {"raw_value": text, "type": "md"}


def as_json(value) -> dict:
    return {"raw_value": value, "type": "json"}


def required_watermark(store, settings: Settings) -> pd.Timestamp:
    watermark = current_watermark(store, settings)
    if watermark is None:
        raise RuntimeError("no watermark yet: materialize feature_table (run the training job) first")
    return watermark


def current_watermark(store, settings: Settings) -> pd.Timestamp | None:
    """Data time up to which batch scoring has run; it starts at the first training window's end."""
    windows = store.read(WATERMARK_TABLE)
    if windows is not None and not windows.empty:
        return pd.Timestamp(windows["window_end"].max())
    features = store.read(FEATURE_TABLE)
    if features is None or features.empty:
        return None
    return pd.Timestamp(features["window_end"].iloc[0])
