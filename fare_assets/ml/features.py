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

from fare_assets.ml.schema import FEATURE_COLUMNS, LABEL, LOCATION_COLUMNS, PICKUP_TIME, TRIP_ID

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
            # A trip without a zone keeps it missing (NaN): the model learns a no-location path
            # for it, the same one a request without location fields takes.
            known = trips[column] if column in trips else pd.Series(pd.NA, index=trips.index, dtype="Int32")
            features[column] = known.astype("Float64").to_numpy(dtype="float64", na_value=float("nan"))
    return features


def featurize(trips: pd.DataFrame, include_location: bool = False) -> pd.DataFrame:
    """Trip id, pickup time, the model's inputs and the actual fare, one row per clean trip."""
    features = compute_features(trips, include_location=include_location)
    return pd.concat([trips[[TRIP_ID, PICKUP_TIME]], features, trips[[LABEL]]], axis=1)


def model_inputs(frame: pd.DataFrame, include_location: bool = False):
    return frame[feature_columns(include_location)].to_numpy(dtype="float64")


def predict_features(model, frame: pd.DataFrame):
    """`model`'s predictions for a feature frame, fed the inputs it takes. Models are fitted on
    arrays in contract order, six fields or six plus the two zones: a zone model given a frame
    without zones takes its no-location path (NaN zones, as for a request without them), a
    six-field model ignores the frame's zones."""
    takes_locations = getattr(model, "n_features_in_", len(FEATURE_COLUMNS)) > len(FEATURE_COLUMNS)
    if takes_locations and not set(LOCATION_COLUMNS) <= set(frame.columns):
        frame = frame.assign(**{c: float("nan") for c in LOCATION_COLUMNS})
    return model.predict(model_inputs(frame, takes_locations))


def load_features(source, start: pd.Timestamp, end: pd.Timestamp, include_location: bool = False, *,
                  with_unplaceable: bool = False):
    """Read, clean and featurize a window of a TripSource; return the frame and rejected rows by
    reason. with_unplaceable adds the source's rows that no window holds (no pickup time): counted
    once, with the training window, so that every row read is either kept or counted."""
    from collections import Counter

    from fare_assets.ml.sources import clean_trips

    clean, rejected = clean_trips(source.read(start, end))
    if with_unplaceable:
        rejected = dict(Counter(rejected) + Counter(source.unplaceable_rows()))
    return featurize(clean, include_location), rejected
