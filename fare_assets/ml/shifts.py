"""Constructed shifts for real trips: pure functions that change a normalised trips frame from a
date on, so that a replay over real files meets a shift whose start and size are known.

- `fare_rule_change`: every fare x1.25 + $0.50 (a new meter rate and a higher initial charge).
- `demand_collapse`: a deterministic 20% of trips is kept (chosen by a hash of the trip's content,
  so every read of a window keeps the same trips); the trips themselves are unchanged.
- `longer_trips`: distances x1.5, and the fare raised by the meter's per-mile rate ($2.50: $0.50
  per 1/5 mile) for the added distance, as if the trip covered more ground at speed in the same
  time (the meter charges moving miles, not slow minutes, for the extra part). JFK flat fares
  ($52 in 2019) stay flat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fare_assets.ml.schema import DROPOFF_TIME, PICKUP_TIME, TRIP_ID

FARE_FACTOR, FARE_ADDED = 1.25, 0.50
KEPT_SHARE = 0.20
DISTANCE_FACTOR, PER_MILE = 1.5, 2.50
JFK_FLAT_2019 = 52.0
SHIFTS = ("fare_rule_change", "demand_collapse", "longer_trips")
# The snake-case TLC schema (fare_assets.ml.sources.FILE_SCHEMAS): ours -> theirs, for writing.
SNAKE_CASE = {PICKUP_TIME: "pickup_datetime", DROPOFF_TIME: "dropoff_datetime", "trip_distance": "trip_distance",
              "fare_amount": "fare_amount", "pickup_location_id": "pickup_location_id",
              "dropoff_location_id": "dropoff_location_id"}


def apply_shift(trips: pd.DataFrame, shift: str, start: pd.Timestamp | str) -> pd.DataFrame:
    """The trips with `shift` applied to those picked up at or after `start`; earlier trips unchanged."""
    after = (trips[PICKUP_TIME] >= pd.Timestamp(start)).to_numpy()
    if shift == "fare_rule_change":
        fares = trips["fare_amount"].to_numpy(float)
        return trips.assign(fare_amount=np.where(after, fares * FARE_FACTOR + FARE_ADDED, fares))
    if shift == "demand_collapse":
        return trips[~after | kept(trips)].reset_index(drop=True)
    if shift == "longer_trips":
        miles, fares = trips["trip_distance"].to_numpy(float), trips["fare_amount"].to_numpy(float)
        metered = after & (fares != JFK_FLAT_2019)
        return trips.assign(
            trip_distance=np.where(after, miles * DISTANCE_FACTOR, miles),
            fare_amount=np.where(metered, fares + PER_MILE * (DISTANCE_FACTOR - 1) * miles, fares))
    raise ValueError(f"unknown shift {shift!r}: one of {', '.join(SHIFTS)}")


def kept(trips: pd.DataFrame) -> np.ndarray:
    """A deterministic KEPT_SHARE of trips, by a hash of what the trip is (not of its row number)."""
    content = trips[[PICKUP_TIME, DROPOFF_TIME, "trip_distance", "fare_amount"]]
    digest = pd.util.hash_pandas_object(content, index=False).to_numpy()
    return (digest % 1000) < KEPT_SHARE * 1000


def write_shifted(trips: pd.DataFrame, path: Path) -> Path:
    """Normalised trips as a Parquet file in the snake-case TLC schema, which any source reads."""
    frame = trips.drop(columns=[TRIP_ID], errors="ignore")[list(SNAKE_CASE)].rename(columns=SNAKE_CASE)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path
