"""Monitoring stage: model_monitoring, with one WARN check per drift rule."""


from dagster import AssetCheckSpec, AssetExecutionContext, asset

from fare_assets.assets.inference import predictions
from fare_assets.assets.training import training_baseline
from fare_assets.ml.drift_checks import CHECKS
from fare_assets.resources.monitoring_reports import MonitoringReports
from fare_assets.resources.task_runner import TaskRunner


@asset(
    deps=[predictions, training_baseline], group_name="monitoring", kinds={"delta"},
    check_specs=[AssetCheckSpec(name, asset="model_monitoring", description=text) for name, text in CHECKS.items()],
)
def model_monitoring(context: AssetExecutionContext, task_runner: TaskRunner, monitoring_reports: MonitoringReports):
    """Drift and accuracy of the last monitoring window against its model's baseline; says should_retrain."""
    result = task_runner.run(context, "monitor_drift", {"report_in_task": monitoring_reports.in_task})
    return monitoring_reports.complete(result)
