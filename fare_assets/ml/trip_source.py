"""One interface over every trips source: read a window of data time, know the default window."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fare_assets.ml.schema import PICKUP_TIME, TRIP_ID
from fare_assets.ml.sources import in_window, read_trip_files, trip_ids
from fare_assets.ml.tlc import download_months, parse_tlc_months

TRAINING_DAYS = 60
SYNTHETIC_START = pd.Timestamp("2016-01-01")


class TripSource:
    name: str

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Normalised (not yet cleaned) trips with pickups in [start, end), by pickup time."""
        raise NotImplementedError

    def extent(self) -> tuple[pd.Timestamp, pd.Timestamp | None]:
        """First and last day of data; the end is None for an endless (synthetic) stream."""
        raise NotImplementedError

    def default_training_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        start = self.extent()[0]
        return start, start + pd.Timedelta(days=TRAINING_DAYS)


@dataclass
class SyntheticSource(TripSource):
    scenario: str = ""
    name: str = "synthetic"

    def read(self, start, end):
        from fare_assets.ml.synthetic import generate_trips, parse_scenario

        return generate_trips(start, end, scenario=parse_scenario(self.scenario))

    def extent(self):
        return SYNTHETIC_START, None


@dataclass
class FileSource(TripSource):
    paths: list[str]
    name: str = "files"
    _trips: pd.DataFrame | None = field(default=None, repr=False)

    def _all(self) -> pd.DataFrame:
        if self._trips is None:
            frames = [read_trip_files(p) for p in self.paths]
            trips = pd.concat(frames, ignore_index=True)
            trips[TRIP_ID] = trip_ids(trips)  # unique across files, not only within each
            self._trips = trips.sort_values(PICKUP_TIME, kind="stable", ignore_index=True)
        return self._trips

    def read(self, start, end):
        return in_window(self._all(), start, end).reset_index(drop=True)

    def extent(self):
        # Real files hold stray pickups years away from their month: ignore the outer 0.1%.
        pickup = self._all()[PICKUP_TIME].dropna()
        return pickup.quantile(0.001).floor("D"), pickup.quantile(0.999).ceil("D")


def open_trip_source(spec: str, *, cache_dir: Path, tlc_base_url: str, scenario: str = "") -> TripSource:
    """`synthetic`, `tlc:YYYY-MM[..YYYY-MM]`, or a path/glob of CSV or Parquet files."""
    spec = spec.strip()
    if spec == "synthetic":
        return SyntheticSource(scenario=scenario)
    if spec.startswith("tlc:"):
        paths = download_months(parse_tlc_months(spec), tlc_base_url, cache_dir / "tlc")
        return FileSource([str(p) for p in paths], name=spec)
    if spec.startswith("files:"):
        spec = spec.removeprefix("files:")
    return FileSource([p for p in spec.split(",") if p], name=f"files:{spec}")
