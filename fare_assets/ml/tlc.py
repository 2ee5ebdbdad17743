"""The official monthly TLC yellow-taxi files: downloaded once, cached, read like any file; and
the ways TLC-derived files write trip times."""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

_SPEC = re.compile(r"^tlc:(\d{4}-\d{2})(?:\.\.(\d{4}-\d{2}))?$")


def parse_tlc_months(spec: str) -> list[str]:
    """`tlc:2019-01` or `tlc:2019-01..2019-03` -> ["2019-01", ...]."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise ValueError(f"{spec!r} is not a TLC source: write tlc:YYYY-MM or tlc:YYYY-MM..YYYY-MM")
    first, last = pd.Period(match.group(1), "M"), pd.Period(match.group(2) or match.group(1), "M")
    if last < first:
        raise ValueError(f"{spec!r}: the last month comes before the first")
    return [str(p) for p in pd.period_range(first, last, freq="M")]


def month_file_name(month: str) -> str:
    return f"yellow_tripdata_{month}.parquet"


def download_months(
    months: list[str], base_url: str, cache_dir: Path, progress: bool = True
) -> list[Path]:
    """Fetch each month once into cache_dir; a partial download never looks complete."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for month in months:
        path = cache_dir / month_file_name(month)
        if not path.exists():
            _download(f"{base_url.rstrip('/')}/{month_file_name(month)}", path, progress)
        paths.append(path)
    return paths


def _download(url: str, path: Path, progress: bool) -> None:
    from tqdm import tqdm

    partial = path.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        shutil.move(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise OSError(f"could not download {url}: {error}") from error


# Exports of TLC data write times as text, or as epoch numbers in seconds, milliseconds,
# microseconds or nanoseconds. Within these years the four units' ranges are disjoint
# (a 2019 pickup is ~1.5e9 s, 1.5e12 ms, 1.5e15 us, 1.5e18 ns), so each value's magnitude
# names its unit; a number that fits none (0, an id) is unparseable, never a time in 1970.
EPOCH_YEARS = (pd.Timestamp("1980-01-01"), pd.Timestamp("2100-01-01"))
_NANOS_PER_UNIT = (10**9, 10**6, 10**3, 1)


def parse_trip_times(raw: pd.Series) -> pd.Series:
    """Datetimes, text or epoch numbers as datetimes; what cannot be a trip time becomes NaT."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return from_epoch(raw)
    parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    if parsed.isna().sum() > 0.5 * raw.notna().sum():  # maybe epoch numbers written as text
        numbers = pd.to_numeric(raw, errors="coerce")
        if numbers.notna().sum() > parsed.notna().sum():
            return from_epoch(numbers)
    return parsed


def from_epoch(numbers: pd.Series) -> pd.Series:
    """Epoch numbers, each in the unit its magnitude implies (see EPOCH_YEARS), as datetimes."""
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    low, high = (t.value for t in EPOCH_YEARS)
    nanos_per = np.zeros(len(values), dtype="int64")
    for unit in _NANOS_PER_UNIT:
        nanos_per[(values * unit >= low) & (values * unit < high)] = unit
    # Nanoseconds in integers: float64 would round a 2019 time (~1.5e18 ns) by up to 128 ns.
    if pd.api.types.is_integer_dtype(numbers):
        nanos = numbers.to_numpy(dtype="int64", na_value=0) * nanos_per
    else:
        values = np.where(nanos_per > 0, values, 0)
        whole = np.floor(values)
        nanos = whole.astype("int64") * nanos_per + np.round((values - whole) * nanos_per).astype("int64")
    return pd.Series(nanos.view("datetime64[ns]"), index=numbers.index).where(nanos_per > 0)


def epoch_problem() -> str:
    """Why a number is not a trip time, for an error message."""
    first, last = EPOCH_YEARS
    return (f"numbers that no epoch unit (seconds, milliseconds, microseconds, nanoseconds) "
            f"places between {first.year} and {last.year}")
