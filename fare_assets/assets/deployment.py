"""Deployment stage: champion_alias -> serving_endpoint."""


from dagster import AssetExecutionContext, asset

from fare_assets.assets.training import latest_version, model_version
from fare_assets.automation import SHIFT_TAG, last_retrain_of_shift
from fare_assets.resources.task_runner import TaskRunner


@asset(deps=[model_version], group_name="deployment", kinds={"mlflow"})
def champion_alias(context: AssetExecutionContext, task_runner: TaskRunner):
    """The Champion alias: moved to the Challenger only if it wins on the newest held-out slice.
    A Champion kept through a shift's last allowed retraining run gets its rows of the baseline
    table made anew on the newest post-shift week: monitoring then judges the new normal, not the
    old regime (training_baseline writes only the newest version's rows)."""
    return task_runner.run(context, "promote_champion", {
        "challenger_version": latest_version(context),
        "shift_start": context.run.tags.get(SHIFT_TAG, ""),
        "last_retrain_of_shift": last_retrain_of_shift(context.run.tags),
    })


@asset(deps=[champion_alias], group_name="deployment", kinds={"api"})
def serving_endpoint(context: AssetExecutionContext, task_runner: TaskRunner):
    """The HTTP endpoint, serving the Champion's explicit version, verified by a test prediction."""
    return task_runner.run(context, "deploy_endpoint")
