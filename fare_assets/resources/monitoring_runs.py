"""Where each monitoring window's MLflow run is logged, and the link the materialization shows."""

from __future__ import annotations

from dagster import ConfigurableResource, MaterializeResult, MetadataValue

from fare_assets.backends import open_target
from fare_assets.settings import Settings
from fare_assets.tasks.monitoring_report import chart_png, log_monitoring_run


class MonitoringRuns(ConfigurableResource):
    """The monitoring task reports its chart and details; the run is logged where the target says.
    Locally that is here, in the Dagster process, into the same sqlite store the task would use:
    a Pipes task would import MLflow for this alone (about 1.5 s of a replay step's 5), while a
    long-lived process (replay, a code server) imports it once. On Databricks the task logs it."""

    settings_env: dict[str, str]

    @property
    def in_task(self) -> bool:
        return open_target(Settings.from_env(self.settings_env)).monitoring_runs_in_task

    def record(self, result: MaterializeResult) -> MaterializeResult:
        """The task's result, with the link of the window's MLflow run (logged now unless the task did)."""
        metadata = dict(result.metadata or {})
        if "mlflow_run" in metadata or self.in_task:
            return result
        value = {key: getattr(item, "value", item) for key, item in metadata.items()}
        registry = open_target(Settings.from_env(self.settings_env)).registry()
        link = log_monitoring_run(registry, chart_png(value["drift_chart"]), value["details"],
                                  int(value["model_version"]), str(value["window_start"]), str(value["window_end"]))
        metadata["mlflow_run"] = MetadataValue.url(link)
        return MaterializeResult(asset_key=result.asset_key, metadata=metadata, check_results=result.check_results,
                                 data_version=result.data_version, tags=result.tags)
