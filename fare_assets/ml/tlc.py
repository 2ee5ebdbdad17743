"""The official monthly TLC yellow-taxi files: downloaded once, cached, read like any file."""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path

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
