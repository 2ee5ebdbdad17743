"""Where a monitoring window's chart is drawn and its MLflow run logged, and the metadata that shows them."""

from __future__ import annotations

from dagster import ConfigurableResource, MaterializeResult
from dagster._core.definitions.metadata.external_metadata import metadata_map_from_external

from fare_assets.backends import open_target
from fare_assets.settings import Settings


class MonitoringReports(ConfigurableResource):
    """The monitoring task judges the window and bins the chart's data; the chart and the window's
    MLflow run are made where the target says. Locally that is here, in the Dagster process, into
    the same sqlite store the task would use: the task would import matplotlib and MLflow for this
    alone (about 2 s of a 5 s replay step), while a long-lived process (replay, a code server)
    imports them once. On Databricks the task makes them itself."""

    settings_env: dict[str, str]

    @property
    def in_task(self) -> bool:
        return open_target(Settings.from_env(self.settings_env)).monitoring_reports_in_task

    def complete(self, result: MaterializeResult) -> MaterializeResult:
        """The task's result with the chart and the MLflow run's link in place of the chart's data."""
        metadata = dict(result.metadata or {})
        if "chart_data" not in metadata:  # the task reported the window itself
            return result
        from fare_assets.tasks.monitoring_report import report

        value = {key: getattr(item, "value", item) for key, item in metadata.items()}
        registry = open_target(Settings.from_env(self.settings_env)).registry()
        # In Pipes' form, as the task reports it on Databricks; shown where the chart's data was.
        shown = metadata_map_from_external(report(
            registry, value["chart_data"], value["details"], int(value["model_version"]),
            str(value["window_start"]), str(value["window_end"])))
        ordered = {}
        for key, item in metadata.items():
            ordered.update(shown if key == "chart_data" else {key: item})
        return MaterializeResult(asset_key=result.asset_key, metadata=ordered, check_results=result.check_results,
                                 data_version=result.data_version, tags=result.tags)
