"""The Databricks target: a Unity Catalog trips table read through Spark, UC Delta tables,
Databricks MLflow tracking with the `databricks-uc` registry, Databricks Model Serving, batch
scoring in Spark, and serverless Pipes runs. The implementations live in fare_assets.databricks."""

from __future__ import annotations

import pandas as pd

from fare_assets.backends.registry import MlflowRegistry
from fare_assets.settings import Settings, SettingsError

# https://docs.databricks.com/aws/en/mlflow/experiments : a workspace experiment is named by its
# workspace path, and MLflow refuses one whose parent folder does not exist
# (RESOURCE_DOES_NOT_EXIST: Parent directory ... does not exist), so the folder is created first.
EXPERIMENT_FOLDER = "/Shared/fare_assets"


class DatabricksTarget:
    name = "databricks"
    # The monitoring task draws its chart and logs its run inside the workspace, where MLflow and
    # matplotlib are part of every serverless environment version (databricks/environment.py) and MLflow
    # is authenticated; the Dagster side needs no tracking access of its own for it.
    monitoring_reports_in_task = True

    def __init__(self, settings: Settings):
        if not settings.volume.startswith("/Volumes/") or len(settings.volume.strip("/").split("/")) != 4:
            raise SettingsError(
                "FARE_ASSETS_TARGET=databricks needs FARE_ASSETS_VOLUME=/Volumes/<catalog>/<schema>/<volume> "
                f"(got {settings.volume!r}) and Databricks authentication through the SDK's unified "
                "configuration (DATABRICKS_HOST with a profile or token); see the README, 'Run on Databricks'"
            )
        self.settings = settings

    def trip_source(self):
        from fare_assets.databricks.spark import UnityCatalogTripSource

        return UnityCatalogTripSource(self.settings)

    def source_description(self) -> str:
        return f"the Unity Catalog table {self.settings.databricks_source_table}"

    def scheduling_horizon(self):
        """The Dagster side has no Spark: only a configured horizon is known there (the tasks,
        on Databricks, also derive one from the table's newest row)."""
        return pd.Timestamp(self.settings.data_horizon) if self.settings.data_horizon else None

    def table_store(self):
        from fare_assets.databricks.tables import SparkTableStore

        return SparkTableStore(f"{self.settings.catalog}.{self.settings.schema}")

    def registry(self) -> MlflowRegistry:
        return MlflowRegistry(self.settings.registered_model_name, "databricks", "databricks-uc",
                              experiment=self._experiment, link=self._run_link)

    def _experiment(self) -> str:
        from databricks.sdk import WorkspaceClient

        WorkspaceClient().workspace.mkdirs(EXPERIMENT_FOLDER)
        return f"{EXPERIMENT_FOLDER}/{self.settings.registered_model_name}"

    def _run_link(self, experiment_id: str, run_id: str) -> str:
        from databricks.sdk import WorkspaceClient

        host = WorkspaceClient().config.host.rstrip("/")
        return f"{host}/ml/experiments/{experiment_id}/runs/{run_id}"

    def tracking_ui(self) -> str:
        from databricks.sdk import WorkspaceClient

        return f"{WorkspaceClient().config.host.rstrip('/')}/ml/experiments"

    def endpoint(self):
        from fare_assets.databricks.serving import DatabricksEndpoint

        return DatabricksEndpoint.from_settings(self.settings)

    def batch_scorer(self, source, store, registry):
        from fare_assets.databricks.batch import SparkBatchScorer

        return SparkBatchScorer(source, store, registry, self.settings.with_locations)

    def task_runner(self):
        from fare_assets.databricks.runner import DatabricksTaskRunner

        return DatabricksTaskRunner.from_settings(self.settings)

    def doctor(self, probe: bool = True) -> int:
        from fare_assets.databricks.doctor import doctor

        return doctor(self.settings, probe=probe)
