"""What several tasks share: the holdout slice, the training window's bounds, metadata values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fare_assets.ml.schema import PICKUP_TIME

HOLDOUT_FRACTION = 0.2


def holdout_slice(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fitting rows and the most recent held-out slice, shared by training and validation."""
    from fare_assets.ml.training import time_ordered_split  # sklearn: only tasks that split pay for it

    return time_ordered_split(features, PICKUP_TIME, HOLDOUT_FRACTION)


def training_rows(store, include_location: bool) -> pd.DataFrame:
    """The feature table as training reads it: only the columns it uses (at millions of rows the
    trip ids alone cost gigabytes). Shared with benchmarks/scale.py, which measures this read."""
    from fare_assets.backends.interfaces import FEATURE_TABLE
    from fare_assets.ml.features import feature_columns
    from fare_assets.ml.schema import LABEL

    features = store.read(FEATURE_TABLE, columns=[PICKUP_TIME, *feature_columns(include_location), LABEL,
                                                  "window_start", "window_end"])
    if features is None or features.empty:
        raise ValueError("feature_table is empty or missing: materialize feature_table first")
    return features


@dataclass
class TrainingData:
    """What a search fits (`X`, `y` in `columns` order) and the frame it is judged on."""

    X: np.ndarray
    y: np.ndarray
    locations: bool  # whether the model takes the zones: `columns` ends with them
    columns: list[str]
    holdout: pd.DataFrame
    window: tuple[pd.Timestamp, pd.Timestamp]


def training_data(store, include_location: bool, learns_locations) -> TrainingData:
    """The feature table as arrays to fit and a holdout frame, with no frame of the fitting rows left
    alive: at 5 M trips each copy costs hundreds of MB at the search's peak. `learns_locations(fit_rows)`
    decides whether the model takes the zones. Shared with benchmarks/scale.py."""
    from fare_assets.ml.features import feature_columns, model_inputs
    from fare_assets.ml.schema import LABEL

    features = training_rows(store, include_location)
    window = window_of(features)
    fit_rows, holdout = holdout_slice(features)
    del features
    locations = learns_locations(fit_rows)
    X, y = model_inputs(fit_rows, locations), fit_rows[LABEL].to_numpy(dtype="float64", copy=True)
    # A copy, so that the sorted frame both slices came from can be freed with the fitting rows.
    return TrainingData(X, y, locations, feature_columns(locations), holdout.copy(), window)


def window_of(features: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The training window a feature table was built from."""
    return pd.Timestamp(features["window_start"].iloc[0]), pd.Timestamp(features["window_end"].iloc[0])


def markdown_preview(frame: pd.DataFrame, rows: int = 5) -> str:
    head = frame.head(rows).astype(str)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in head.itertuples(index=False)]
    return "\n".join(lines)


def md(text: str) -> dict:
    return {"raw_value": text, "type": "md"}


def as_json(value) -> dict:
    return {"raw_value": value, "type": "json"}


def table_metadata(store, table: str) -> dict:
    """Dagster's standard table metadata, so the catalog shows a Delta asset's rows and columns."""
    return {
        "dagster/row_count": store.count(table) or 0,
        "dagster/column_schema": {"type": "table_schema", "raw_value": {"columns": [
            {"name": name, "type": kind} for name, kind in store.columns(table).items()]}},
        "table": store.location(table),
    }


def rounded(value, digits: int = 4):
    """Floats as a reader wants them in the UI: 1.1986, not 1.1985687218586427."""
    return round(float(value), digits) if isinstance(value, float) else value
