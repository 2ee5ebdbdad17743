"""Tables as tasks see them: local Delta tables (deltalake) or Unity Catalog tables (Spark)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from fare_assets.settings import Settings


class LocalTableStore:
    """Delta tables under $FARE_ASSETS_HOME/lakehouse/<catalog>/<schema>/<table>."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def location(self, table: str) -> str:
        return self.settings.table_location(table)

    def _table(self, table: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.location(table))
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self._table(table) is not None

    def read(self, table: str, filters: list[tuple] | None = None) -> pd.DataFrame | None:
        delta = self._table(table)
        if delta is None:
            return None
        return delta.to_pyarrow_table(filters=filters).to_pandas()

    def count(self, table: str) -> int | None:
        delta = self._table(table)
        return None if delta is None else delta.to_pyarrow_dataset().count_rows()

    def overwrite(self, table: str, frame: pd.DataFrame, where: str | None = None) -> None:
        """Replace the table, or only the rows matching `where` (a Delta predicate)."""
        Path(self.location(table)).parent.mkdir(parents=True, exist_ok=True)
        exists = self.exists(table)
        write_deltalake(
            self.location(table), _arrow(frame), mode="overwrite",
            predicate=where if exists else None,
            schema_mode=None if where and exists else "overwrite",
        )

    def append(self, table: str, frame: pd.DataFrame) -> None:
        Path(self.location(table)).parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(self.location(table), _arrow(frame), mode="append")

    def insert_new(self, table: str, frame: pd.DataFrame, key: str) -> int:
        """Insert the rows whose key is not in the table yet; return how many were inserted."""
        delta = self._table(table)
        if delta is None:
            self.append(table, frame)
            return len(frame)
        metrics = (
            delta.merge(_arrow(frame), predicate=f"target.{key} = source.{key}",
                        source_alias="source", target_alias="target")
            .when_not_matched_insert_all()
            .execute()
        )
        return int(metrics.get("num_target_rows_inserted", 0))


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def open_table_store(settings: Settings):
    if settings.target == "databricks":
        from fare_assets.databricks.tables import SparkTableStore

        return SparkTableStore(settings)
    return LocalTableStore(settings)
