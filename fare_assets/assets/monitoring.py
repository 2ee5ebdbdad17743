"""Monitoring stage: model_monitoring."""


from dagster import AssetExecutionContext, asset

from fare_assets.assets.inference import predictions
from fare_assets.assets.training import training_baseline
from fare_assets.resources.task_runner import TaskRunner


@asset(deps=[predictions, training_baseline], group_name="monitoring", kinds={"delta"})
def model_monitoring(context: AssetExecutionContext, task_runner: TaskRunner):
    """Drift and accuracy of the last monitoring window against its model's baseline; says should_retrain."""
    return task_runner.run(context, "monitor_drift")
