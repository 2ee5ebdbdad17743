"""One interface over every trips source: read a window of data time, know the default window."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from fare_assets.ml.schema import DROPOFF_TIME, PICKUP_TIME, TRIP_ID
from fare_assets.ml.sources import (
    FILE_SCHEMAS, arrow_to_pandas, detect_schema, normalised_columns, read_trip_file, trip_file_paths, trip_ids,
)
from fare_assets.ml.tlc import download_months, parse_tlc_months

log = logging.getLogger("fare_assets.sources")

TRAINING_DAYS = 60
SYNTHETIC_START = pd.Timestamp("2016-01-01")
# The normalised copies of files that cannot be read in place: a new format makes new copies.
CACHE_FORMAT = 1
COPY_ROW_GROUP = 256_000  # sorted by pickup, so a window skips the row groups outside it
_UNPLACEABLE = b"fare_assets.unplaceable_rows"


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
    """CSV or Parquet files, read a window at a time: only that window's rows and the columns a trip
    needs, never the whole source (a year of TLC trips is about 80 million rows). Parquet files with
    timestamp times are read in place with the window as a filter on their pickup column; every
    other file is normalised once into a Parquet file under cache_dir and read the same way."""

    paths: list[str]
    name: str = "files"
    cache_dir: Path | None = None
    _files: list[TripFile] | None = field(default=None, repr=False)
    _extent: tuple[pd.Timestamp, pd.Timestamp] | None = field(default=None, repr=False)
    _scratch: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def _index(self) -> list[TripFile]:
        if self._files is None:
            if self.cache_dir is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="fare_assets_trips_")
            cache = Path(self._scratch.name) if self._scratch else self.cache_dir / "trips"
            self._files = [index_trip_file(path, cache) for pattern in self.paths for path in trip_file_paths(pattern)]
        return self._files

    def unplaceable_rows(self) -> dict[str, int]:
        # A row without a pickup time is rejected for that first reason (sources.REJECT_REASONS).
        count = sum(f.unplaceable for f in self._index())
        return {"missing_pickup_time": count} if count else {}

    def read(self, start, end):
        parts = [f.read(start, end) for f in self._index()]
        trips = pd.concat(parts, ignore_index=True).sort_values(PICKUP_TIME, kind="stable", ignore_index=True)
        # Ids over the window alone are the ids over the whole source: a trip and its repeats share
        # the pickup time, so they share the window.
        trips.insert(0, TRIP_ID, trip_ids(trips))
        return trips

    def extent(self):
        if self._extent is None:
            # Real files hold stray pickups years away from their month: ignore the outer 0.1%.
            pickup = pd.Series(np.concatenate([f.pickups() for f in self._index()]))
            self._extent = pickup.quantile(0.001).floor("D"), pickup.quantile(0.999).ceil("D")
        return self._extent


@dataclass(frozen=True)
class TripFile:
    """A Parquet file of trips that reads one window: `mapping` names its columns (ours -> theirs),
    None for a file already normalised; `unplaceable` counts its rows without a pickup time."""

    path: str
    mapping: dict[str, str] | None
    unplaceable: int

    @property
    def pickup(self) -> str:
        return self.mapping[PICKUP_TIME] if self.mapping else PICKUP_TIME

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        dataset = ds.dataset(self.path, format="parquet")
        kind = dataset.schema.field(self.pickup).type
        low, high = (pc.cast(pa.scalar(pd.Timestamp(t).as_unit("ns").to_datetime64()), kind, safe=False)
                     for t in (start, end))
        column = pc.field(self.pickup)
        columns = list(self.mapping.values()) if self.mapping else None
        raw = arrow_to_pandas(dataset.to_table(columns=columns, filter=(column >= low) & (column < high)))
        return normalised_columns(raw, self.mapping) if self.mapping else raw

    def pickups(self) -> np.ndarray:
        pickup = pq.read_table(self.path, columns=[self.pickup]).column(0).drop_null()
        return pickup.cast(pa.timestamp("us"), safe=False).to_numpy()


def index_trip_file(path: Path, cache_dir: Path) -> TripFile:
    return _in_place(path) or _normalised_copy(path, cache_dir)


def _in_place(path: Path) -> TripFile | None:
    """A Parquet file whose times are timestamps and whose numbers are numbers: nothing to parse, so
    it is read where it is. Anything else (CSV, text or epoch times) is None: it needs a copy."""
    if path.suffix.lower() != ".parquet":
        return None
    try:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
        mapping = FILE_SCHEMAS[detect_schema(schema.names)]
        types = {ours: schema.field(theirs).type for ours, theirs in mapping.items()}
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None  # reading the whole file names what is wrong with it
    times = (PICKUP_TIME, DROPOFF_TIME)
    if metadata.num_rows == 0 or not all(
            (pa.types.is_timestamp(t) and t.tz is None) if ours in times
            else (pa.types.is_integer(t) or pa.types.is_floating(t)) for ours, t in types.items()):
        return None
    unplaceable = pq.read_table(path, columns=[mapping[PICKUP_TIME]]).column(0).null_count
    if unplaceable:
        log.warning("%s: %d of %d rows have no pickup time, so they fall in no time window",
                    path, unplaceable, metadata.num_rows)
    return TripFile(str(path), mapping, unplaceable)


def _normalised_copy(path: Path, cache_dir: Path) -> TripFile:
    """The file normalised once, rows with a pickup time sorted by it, kept until the file changes."""
    stat = path.stat()
    key = hashlib.sha256(f"{CACHE_FORMAT}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    copy = cache_dir / f"{path.name}.{key.hexdigest()[:16]}.parquet"
    if not copy.exists():
        trips = read_trip_file(path).drop(columns=TRIP_ID)  # ids are given per window, across files
        placeable = trips[PICKUP_TIME].notna()
        table = pa.Table.from_pandas(trips[placeable].sort_values(PICKUP_TIME, kind="stable"), preserve_index=False)
        metadata = {**table.schema.metadata, _UNPLACEABLE: str(int((~placeable).sum())).encode()}
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Two tasks may copy the same file at once: each writes its own part, the rename is atomic.
        partial = copy.with_name(f"{copy.name}.{os.getpid()}.part")
        pq.write_table(table.replace_schema_metadata(metadata), partial, row_group_size=COPY_ROW_GROUP)
        os.replace(partial, copy)
    return TripFile(str(copy), None, int(pq.read_schema(copy).metadata[_UNPLACEABLE]))


def open_trip_source(spec: str, *, cache_dir: Path, tlc_base_url: str, scenario: str = "") -> TripSource:
    """`synthetic`, `tlc:YYYY-MM[..YYYY-MM]`, or a path/glob of CSV or Parquet files."""
    spec = spec.strip()
    if spec == "synthetic":
        return SyntheticSource(scenario=scenario)
    if spec.startswith("tlc:"):
        paths = download_months(parse_tlc_months(spec), tlc_base_url, cache_dir / "tlc")
        return FileSource([str(p) for p in paths], name=spec, cache_dir=cache_dir)
    if spec.startswith("files:"):
        spec = spec.removeprefix("files:")
    return FileSource([p for p in spec.split(",") if p], name=f"files:{spec}", cache_dir=cache_dir)
