"""One interface over every trips source: read a window of data time, know the default window."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fare_assets.ml.schema import PICKUP_TIME
from fare_assets.ml.sources import in_window, read_trips_by_pickup
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

    def horizon(self) -> pd.Timestamp | None:
        """The newest time up to which the source's data is complete (None: an endless stream)."""
        return self.extent()[1]

    def default_training_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        start = self.extent()[0]
        return start, start + pd.Timedelta(days=TRAINING_DAYS)

    def unplaceable_rows(self) -> dict[str, int]:
        """Rows read that fall in no window (no pickup time), by rejection reason: report them once."""
        return {}


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
    _unplaceable: dict[str, int] = field(default_factory=dict, repr=False)

    def _all(self) -> pd.DataFrame:
        if self._trips is None:
            self._trips, self._unplaceable = read_trips_by_pickup(self.paths)
        return self._trips

    def unplaceable_rows(self) -> dict[str, int]:
        self._all()
        return dict(self._unplaceable)

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
