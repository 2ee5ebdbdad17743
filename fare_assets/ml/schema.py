"""Column contracts shared by sources, features, tables and the serving endpoint."""

from __future__ import annotations

# The normalised trips frame follows `samples.nyctaxi.trips`, plus TLC zone ids where known.
TRIP_ID = "trip_id"
PICKUP_TIME = "tpep_pickup_datetime"
DROPOFF_TIME = "tpep_dropoff_datetime"
TRIP_COLUMNS: dict[str, str] = {
    TRIP_ID: "string",
    PICKUP_TIME: "datetime64[us]",
    DROPOFF_TIME: "datetime64[us]",
    "trip_distance": "float64",
    "fare_amount": "float64",
    "pickup_zip": "Int32",
    "dropoff_zip": "Int32",
    "pickup_location_id": "Int32",
    "dropoff_location_id": "Int32",
}

LABEL = "fare_amount"

# The request contract of the endpoint: the exemplar's six fields, in this order.
FEATURE_COLUMNS: tuple[str, ...] = (
    "trip_distance",
    "pickup_hour",
    "pickup_dayofweek",
    "pickup_month",
    "is_weekend",
    "is_rush_hour",
)
LOCATION_COLUMNS: tuple[str, ...] = ("pickup_location_id", "dropoff_location_id")

# Inclusive ranges a valid feature value must fall in; the endpoint rejects anything else.
# pickup_dayofweek follows Spark's dayofweek(): 1 = Sunday ... 7 = Saturday.
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "trip_distance": (0.0, 500.0),
    "pickup_hour": (0, 23),
    "pickup_dayofweek": (1, 7),
    "pickup_month": (1, 12),
    "is_weekend": (0, 1),
    "is_rush_hour": (0, 1),
    "pickup_location_id": (0, 265),
    "dropoff_location_id": (0, 265),
}
INTEGER_FEATURES = frozenset(FEATURE_RANGES) - {"trip_distance"}
