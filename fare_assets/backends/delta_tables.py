"""Local tables: Delta tables (deltalake) under $FARE_ASSETS_HOME/lakehouse/<catalog>/<schema>/<table>.

Writers may overlap (two batch runs, a rerun while a schedule fires): every write that can
conflict is retried a bounded number of times on a fresh snapshot, and insert_new creates a
missing table empty before merging, so the first write is as idempotent as every later one.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

COMMIT_ATTEMPTS = 8


class LocalTableStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def location(self, table: str) -> str:
        return str(self.root / table)

    def _table(self, table: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.location(table))
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self._table(table) is not None

    def read(self, table: str, filters: list[tuple] | None = None,
             columns: list[str] | None = None) -> pd.DataFrame | None:
        delta = self._table(table)
        if delta is None:
            return None
        return delta.to_pyarrow_table(filters=filters, columns=columns).to_pandas()

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> type, read from the table's schema, not its data."""
        delta = self._table(table)
        return {} if delta is None else {f.name: str(f.type) for f in delta.schema().to_arrow()}

    def count(self, table: str) -> int | None:
        delta = self._table(table)
        return None if delta is None else delta.to_pyarrow_dataset().count_rows()

    def overwrite(self, table: str, frame: pd.DataFrame, where: str | None = None) -> None:
        """Replace the table, or only the rows matching `where` (a Delta predicate)."""
        def write():
            exists = self.exists(table)
            write_deltalake(self.location(table), _arrow(frame), mode="overwrite",
                            predicate=where if exists else None,
                            schema_mode=None if where and exists else "overwrite")

        self._committed(table, write)

    def append(self, table: str, frame: pd.DataFrame) -> None:
        self._committed(table, lambda: write_deltalake(self.location(table), _arrow(frame), mode="append"))

    def insert_new(self, table: str, frame: pd.DataFrame, key: str) -> int:
        """Insert the rows whose key is not in the table yet; return how many were inserted."""
        source = _arrow(frame)

        def merge() -> int:
            delta = self._table(table) or self._create(table, source.schema)
            metrics = (delta.merge(source, predicate=f"target.{key} = source.{key}",
                                   source_alias="source", target_alias="target")
                       .when_not_matched_insert_all().execute())
            return int(metrics.get("num_target_rows_inserted", 0))

        return self._committed(table, merge)

    def _create(self, table: str, schema: pa.Schema) -> DeltaTable:
        """An empty table; if another writer created it first, theirs is used."""
        try:
            write_deltalake(self.location(table), schema.empty_table(), mode="error")
        except (CommitFailedError, DeltaError) as error:
            if self._table(table) is None:
                raise error
        return DeltaTable(self.location(table))

    def _committed(self, table: str, write):
        Path(self.location(table)).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                return write()
            except CommitFailedError as error:
                if attempt == COMMIT_ATTEMPTS:
                    raise RuntimeError(f"{self.location(table)}: {COMMIT_ATTEMPTS} conflicting commits in a row, "
                                       f"the last: {error}") from error
                time.sleep(random.uniform(0.05, 0.2) * attempt)  # let the other writer finish its commit


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)
