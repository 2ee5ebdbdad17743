"""The one feature definition used by training, batch scoring and (through its contract) serving.

Definitions, all from the pickup time as recorded by the meter (NYC local time):
- trip_distance: metered miles, as recorded.
- pickup_hour: 0-23.
- pickup_dayofweek: 1 = Sunday ... 7 = Saturday (Spark's `dayofweek`, so Spark and pandas agree).
- pickup_month: 1-12.
- is_weekend: 1 on Saturday and Sunday.
- is_rush_hour: 1 on weekdays from 07:00 to 09:59 and from 16:00 to 19:59.
"""

from __future__ import annotations

import pandas as pd

from fare_assets.ml.schema import FEATURE_COLUMNS, LOCATION_COLUMNS, PICKUP_TIME

RUSH_HOURS = frozenset({7, 8, 9, 16, 17, 18, 19})
WEEKEND_DAYS = frozenset({1, 7})


def feature_columns(include_location: bool = False) -> list[str]:
    return list(FEATURE_COLUMNS) + (list(LOCATION_COLUMNS) if include_location else [])


def compute_features(trips: pd.DataFrame, include_location: bool = False) -> pd.DataFrame:
    """Return the model's input columns for each trip, index aligned with `trips`."""
    pickup = pd.to_datetime(trips[PICKUP_TIME])
    dayofweek = (pickup.dt.day_of_week + 1) % 7 + 1  # pandas counts Monday = 0
    hour = pickup.dt.hour
    is_weekend = dayofweek.isin(WEEKEND_DAYS)
    features = pd.DataFrame(
        {
            "trip_distance": trips["trip_distance"].astype("float64"),
            "pickup_hour": hour.astype("int64"),
            "pickup_dayofweek": dayofweek.astype("int64"),
            "pickup_month": pickup.dt.month.astype("int64"),
            "is_weekend": is_weekend.astype("int64"),
            "is_rush_hour": (~is_weekend & hour.isin(RUSH_HOURS)).astype("int64"),
        },
        index=trips.index,
    )
    if include_location:
        for column in LOCATION_COLUMNS:
            # Unknown zones become 0 so the model sees them as their own category.
            features[column] = trips[column].astype("Int64").fillna(0).astype("int64")
    return features
