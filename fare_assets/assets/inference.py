"""Batch inference stage: predictions."""


from dagster import AssetExecutionContext, Config, asset

from fare_assets.assets.deployment import champion_alias
from fare_assets.resources.task_runner import TaskRunner


class BatchWindowConfig(Config):
    """Rescore the batch window starting here (ISO datetime); empty means the next one after the watermark."""

    window_start: str = ""


@asset(deps=["trips", champion_alias], group_name="inference", kinds={"delta"})
def predictions(context: AssetExecutionContext, config: BatchWindowConfig, task_runner: TaskRunner):
    """The Champion's predictions for the next batch window after the watermark (Delta, deduplicated by trip)."""
    return task_runner.run(context, "score_batch", config.model_dump())
