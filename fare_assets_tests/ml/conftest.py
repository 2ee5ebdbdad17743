"""Fixtures of the ml tests: windows of synthetic scored trips and their baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fare_assets.ml.drift import build_baseline
from fare_assets.ml.features import compute_features
from fare_assets.ml.schema import FEATURE_COLUMNS


def synthetic_trips(n: int, start: str, days: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
    frame = compute_features(pd.DataFrame({"tpep_pickup_datetime": times,
                                           "trip_distance": rng.lognormal(0.5, 0.8, n)}))
    frame["prediction"] = 3 + 2.5 * frame["trip_distance"]
    frame["fare_amount"] = frame["prediction"] * rng.lognormal(0, 0.15, n)
    frame["time"] = times
    return frame


@pytest.fixture(scope="module")
def synthetic_baseline() -> dict:
    held = synthetic_trips(3000, "2024-02-05", 14)
    return build_baseline(held[list(FEATURE_COLUMNS)], held["prediction"].to_numpy(),
                          held["fare_amount"].to_numpy(), held["time"])
