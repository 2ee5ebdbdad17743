"""Trip sources normalised to one frame (see schema.TRIP_COLUMNS), and the one cleaning rule.

Accepted file schemas: the official TLC yellow schema (`VendorID, tpep_pickup_datetime, ...,
PULocationID, DOLocationID`), its snake-case variant (`pickup_datetime, ..., pickup_location_id`)
and Databricks' `samples.nyctaxi.trips` (`tpep_pickup_datetime, ..., pickup_zip, dropoff_zip`).
"""

from __future__ import annotations

import glob as globbing
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fare_assets.ml.schema import DROPOFF_TIME, PICKUP_TIME, TRIP_COLUMNS, TRIP_ID
from fare_assets.ml.tlc import epoch_problem, parse_trip_times

log = logging.getLogger("fare_assets.sources")

# For each accepted schema: our column -> the source's column.
FILE_SCHEMAS: dict[str, dict[str, str]] = {
    "tlc": {
        PICKUP_TIME: "tpep_pickup_datetime", DROPOFF_TIME: "tpep_dropoff_datetime",
        "trip_distance": "trip_distance", "fare_amount": "fare_amount",
        "pickup_location_id": "PULocationID", "dropoff_location_id": "DOLocationID",
    },
    "tlc_snake_case": {
        PICKUP_TIME: "pickup_datetime", DROPOFF_TIME: "dropoff_datetime",
        "trip_distance": "trip_distance", "fare_amount": "fare_amount",
        "pickup_location_id": "pickup_location_id", "dropoff_location_id": "dropoff_location_id",
    },
    "databricks_samples": {
        PICKUP_TIME: "tpep_pickup_datetime", DROPOFF_TIME: "tpep_dropoff_datetime",
        "trip_distance": "trip_distance", "fare_amount": "fare_amount",
        "pickup_zip": "pickup_zip", "dropoff_zip": "dropoff_zip",
    },
}
_NUMERIC = ("trip_distance", "fare_amount", "pickup_zip", "dropoff_zip",
            "pickup_location_id", "dropoff_location_id")

# The cleaning rule: a row is rejected for the first reason that holds, in this order.
# Bounds: fares the meter can produce in a city trip, distances within the TLC area, and
# durations that are a real ride (under a minute is a meter test or a cancel, over four
# hours a meter left running).
REJECT_REASONS: tuple[tuple[str, str], ...] = (
    ("missing_pickup_time", "pickup time missing or unparseable"),
    ("missing_dropoff_time", "dropoff time missing or unparseable"),
    ("missing_distance", "trip_distance missing or not a number"),
    ("missing_fare", "fare_amount missing or not a number"),
    ("non_positive_fare", "fare_amount <= 0"),
    ("fare_over_500", "fare_amount > 500"),
    ("non_positive_distance", "trip_distance <= 0"),
    ("distance_over_100_miles", "trip_distance > 100"),
    ("duration_under_1_min", "dropoff less than 60 s after pickup"),
    ("duration_over_4_hours", "dropoff more than 4 h after pickup"),
)


class TripSchemaError(ValueError):
    """The input is no table of trips: unreadable, empty, or without an accepted schema's columns or types."""


def detect_schema(columns: list[str]) -> str:
    present = set(columns)
    scores = {name: len(set(m.values()) & present) for name, m in FILE_SCHEMAS.items()}
    best = max(scores, key=scores.get)
    missing = sorted(set(FILE_SCHEMAS[best].values()) - present)
    if missing:
        raise TripSchemaError(
            f"trips have no accepted schema: closest is {best!r}, which lacks columns "
            f"{', '.join(missing)}; accepted schemas: "
            + "; ".join(f"{n} ({', '.join(m.values())})" for n, m in FILE_SCHEMAS.items())
        )
    return best


def _coerce(raw: pd.Series, column: str, kind: str) -> pd.Series:
    parsed = parse_trip_times(raw) if kind == "datetime" else pd.to_numeric(raw, errors="coerce")
    given = raw.notna().sum()
    # A handful of bad values are dirty rows; a column that mostly fails is the wrong type.
    if given and parsed.notna().sum() < 0.5 * given:
        example = raw[parsed.isna() & raw.notna()].iloc[0]
        example = example.item() if hasattr(example, "item") else example
        why = f": {epoch_problem()}" if kind == "datetime" and pd.notna(pd.to_numeric(example, errors="coerce")) else ""
        raise TripSchemaError(f"column {column!r} should hold {kind} values but holds values like {example!r}{why}")
    return parsed


def normalise_trips(raw: pd.DataFrame) -> pd.DataFrame:
    """Map any accepted schema onto TRIP_COLUMNS; unparseable values become missing."""
    out = normalised_columns(raw, FILE_SCHEMAS[detect_schema(list(raw.columns))])
    out.insert(0, TRIP_ID, trip_ids(out))
    return out


def normalised_columns(raw: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """TRIP_COLUMNS but the id, from the raw columns that `mapping` (ours -> theirs) names."""
    out = pd.DataFrame(index=raw.index)
    for ours in TRIP_COLUMNS:
        if ours == TRIP_ID:
            continue
        if ours not in mapping:
            out[ours] = pd.Series(pd.NA, index=raw.index, dtype=TRIP_COLUMNS[ours])
            continue
        kind = "datetime" if ours in (PICKUP_TIME, DROPOFF_TIME) else "numeric"
        parsed = _coerce(raw[mapping[ours]], mapping[ours], kind)
        if kind == "numeric" and TRIP_COLUMNS[ours] == "Int32":
            parsed = parsed.where(parsed.between(0, 2**31 - 1)).round()
        out[ours] = parsed.astype(TRIP_COLUMNS[ours])
    return out


def trip_ids(trips: pd.DataFrame) -> pd.Series:
    """Content-derived ids: the same trip gets the same id in every read, so reruns dedupe.

    The id is the row's 64-bit content hash in hex, with "-1", "-2", ... on its repeats. Built in
    Arrow, not per row in Python: at 5 M trips that was 12 s and 400 MB of Python strings."""
    key_columns = [c for c in TRIP_COLUMNS if c != TRIP_ID]
    digest = pd.util.hash_pandas_object(trips[key_columns], index=False).to_numpy()
    ids = _hex(digest)
    repeated = pd.Series(digest).duplicated(keep=False).to_numpy()
    if repeated.any():
        repeat = np.zeros(len(digest), dtype="int64")
        repeat[repeated] = pd.Series(digest[repeated]).groupby(digest[repeated]).cumcount().to_numpy()
        suffixes = pa.array([""] + [f"-{k}" for k in range(1, int(repeat.max()) + 1)])
        ids = pc.binary_join_element_wise(ids, suffixes.take(pa.array(repeat)), "")
    return pd.Series(pd.arrays.ArrowStringArray(pc.cast(ids, pa.large_string())), index=trips.index)


def _hex(digest: np.ndarray) -> pa.Array:
    """uint64 -> 16 lower-case hex digits each, as one Arrow string array."""
    nibbles = digest.astype(">u8").view(np.uint8).reshape(-1, 8)
    chars = np.empty((len(digest), 16), dtype=np.uint8)
    chars[:, 0::2], chars[:, 1::2] = _HEX_DIGITS[nibbles >> 4], _HEX_DIGITS[nibbles & 15]
    offsets = np.arange(0, 16 * len(digest) + 1, 16, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(digest), [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def clean_trips(trips: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the cleaning rule; return kept rows and the count of rejected rows per reason."""
    duration = (trips[DROPOFF_TIME] - trips[PICKUP_TIME]).dt.total_seconds()
    conditions = {
        "missing_pickup_time": trips[PICKUP_TIME].isna(),
        "missing_dropoff_time": trips[DROPOFF_TIME].isna(),
        "missing_distance": trips["trip_distance"].isna(),
        "missing_fare": trips["fare_amount"].isna(),
        "non_positive_fare": trips["fare_amount"] <= 0,
        "fare_over_500": trips["fare_amount"] > 500,
        "non_positive_distance": trips["trip_distance"] <= 0,
        "distance_over_100_miles": trips["trip_distance"] > 100,
        "duration_under_1_min": duration < 60,
        "duration_over_4_hours": duration > 4 * 3600,
    }
    rejected = pd.Series(False, index=trips.index)
    counts: Counter[str] = Counter()
    for reason, _ in REJECT_REASONS:
        hit = conditions[reason].fillna(False).astype(bool) & ~rejected
        counts[reason] = int(hit.sum())
        rejected |= hit
    return trips[~rejected].reset_index(drop=True), {r: n for r, n in counts.items() if n}


def read_trip_files(pattern: str) -> pd.DataFrame:
    """Read every CSV or Parquet file matching a path or glob, normalised (not yet cleaned)."""
    return pd.concat([read_trip_file(path) for path in trip_file_paths(pattern)], ignore_index=True)


def trip_file_paths(pattern: str) -> list[Path]:
    paths = sorted(Path(p) for p in globbing.glob(str(Path(pattern).expanduser())))
    if not paths:
        raise FileNotFoundError(f"no trip files match {pattern!r}")
    return paths


def read_trip_file(path: Path) -> pd.DataFrame:
    """One file, normalised; an error names the file and what is wrong with it."""
    try:
        trips = normalise_trips(_read_table(path))
    except TripSchemaError as error:
        raise TripSchemaError(f"{path}: {error}") from None
    if unplaceable := int(trips[PICKUP_TIME].isna().sum()):
        log.warning("%s: %d of %d rows have no parseable pickup time, so they fall in no time window "
                    "(read_trips_by_pickup counts them as missing_pickup_time)", path, unplaceable, len(trips))
    return trips


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """The table as a frame, at the memory cost of one copy. Its Arrow buffers are freed column by
    column as pandas takes them (a 5M-row table is not held twice), and then given back to the
    system: Arrow's allocator (mimalloc in the pyarrow wheels) keeps freed pages for Arrow to reuse,
    which pandas never does, so they only raise the step's peak. Measured after reading a
    4.92M-row feature table for training: 1,596 MB resident, 666 MB once released; the 5M
    training step's peak, during the refit, 2,834 -> 2,541 MB (benchmarks/scale.py, medians of 3)."""
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    pa.default_memory_pool().release_unused()
    return frame


def _read_table(path: Path) -> pd.DataFrame:
    kind = {".parquet": "Parquet", ".csv": "CSV", ".gz": "CSV"}.get(path.suffix.lower())
    if kind is None:
        raise TripSchemaError("trip files must be .csv, .csv.gz or .parquet")
    try:
        raw = pd.read_parquet(path) if kind == "Parquet" else pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise TripSchemaError("empty file: no header, no rows") from None
    except (ValueError, OSError) as error:  # undecodable bytes, ragged rows, not gzip, not Parquet
        raise TripSchemaError(f"not readable as {kind} ({type(error).__name__}: {error})") from None
    if kind == "CSV" and len(raw.columns) == 1:
        header = str(raw.columns[0])
        separator = next((repr(s) for s in (";", "\t", "|") if s in header), "something else")
        raise TripSchemaError(f"one column, headed {header[:60]!r}: trip files are comma-separated, "
                              f"this one looks separated by {separator}")
    if raw.empty:
        raise TripSchemaError(f"a header ({', '.join(map(str, raw.columns))[:80]}) but no rows")
    return raw


def read_trips_by_pickup(patterns: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """All rows of the files, ids unique across them: those with a pickup time, sorted by it (each
    falls in one window), and the rest counted by rejection reason (they fall in no window, so no
    window's cleaning counts them: whoever reads the windows reports these once)."""
    trips = pd.concat([read_trip_files(p) for p in patterns], ignore_index=True)
    trips[TRIP_ID] = trip_ids(trips)
    placeable = trips[PICKUP_TIME].notna()
    unplaceable = clean_trips(trips[~placeable])[1]
    return trips[placeable].sort_values(PICKUP_TIME, kind="stable", ignore_index=True), unplaceable


def in_window(trips: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    pickup = trips[PICKUP_TIME]
    return trips[(pickup >= start) & (pickup < end)].sort_values(PICKUP_TIME, kind="stable")


def read_clean_trips(pattern: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Files read, normalised and cleaned by the one rule, optionally cut to pickups in [start, end)."""
    trips = clean_trips(read_trip_files(pattern))[0]
    if start is not None and end is not None:
        trips = in_window(trips, start, end).reset_index(drop=True)
    return trips
