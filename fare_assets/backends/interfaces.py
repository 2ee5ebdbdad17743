"""What a target provides, whichever it is: the table names and the small typed interfaces that
the local and the Databricks implementations both fulfil (tasks, status and replay use only these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from fare_assets.ml.trip_source import TripSource
from fare_assets.serving.deploy_result import DeployResult

FEATURE_TABLE = "feature_table"
BASELINE_TABLE = "training_baseline"
PREDICTIONS_TABLE = "predictions"
WATERMARK_TABLE = "predictions_watermarks"
MONITORING_TABLE = "model_monitoring"
TABLES = (FEATURE_TABLE, BASELINE_TABLE, PREDICTIONS_TABLE, WATERMARK_TABLE, MONITORING_TABLE)

CHAMPION = "Champion"
CHALLENGER = "Challenger"

__all__ = ["BatchResult", "BatchScorer", "DeployResult", "Endpoint", "Registry", "TableStore", "Target",
           "TripSource"]


class TableStore(Protocol):
    def location(self, table: str) -> str: ...
    def exists(self, table: str) -> bool: ...
    def read(self, table: str, filters: list[tuple] | None = None,
             columns: list[str] | None = None) -> pd.DataFrame | None: ...
    def count(self, table: str) -> int | None: ...
    def overwrite(self, table: str, frame: pd.DataFrame, where: str | None = None) -> None: ...
    def append(self, table: str, frame: pd.DataFrame) -> None: ...
    def insert_new(self, table: str, frame: pd.DataFrame, key: str) -> int: ...


class Registry(Protocol):
    model_name: str
    tracking_uri: str

    def connect(self) -> Any: ...
    def alias_version(self, alias: str) -> int | None: ...
    def set_alias(self, alias: str, version: int) -> None: ...
    def load_version(self, version: int) -> Any: ...
    def tag_version(self, version: int, tags: dict) -> None: ...
    def run_link(self, experiment_id: str, run_id: str) -> str: ...


class Endpoint(Protocol):
    def deploy(self, version: int) -> DeployResult: ...
    def status(self) -> dict | None: ...


@dataclass(frozen=True)
class BatchResult:
    """One scored batch window: rows scored, rows new to the table, rejected rows by reason, MAE."""

    rows: int
    inserted: int
    rejected: dict[str, int]
    mae: float | None


class BatchScorer(Protocol):
    def score(self, start: pd.Timestamp, end: pd.Timestamp, version: int) -> BatchResult: ...


class Target(Protocol):
    """Everything that differs between running locally and on Databricks, built from settings."""

    name: str

    def trip_source(self) -> TripSource: ...
    def source_description(self) -> str: ...
    def table_store(self) -> TableStore: ...
    def registry(self) -> Registry: ...
    def endpoint(self) -> Endpoint: ...
    def batch_scorer(self, source: TripSource, store: TableStore, registry: Registry) -> BatchScorer: ...
    def task_runner(self) -> Any: ...
