"""Jobs, schedules, and the drift sensor that closes the loop by requesting retraining."""


import pandas as pd
from dagster import (
    AssetKey, AssetRecordsFilter, AssetSelection, DefaultScheduleStatus, DefaultSensorStatus, RunRequest,
    ScheduleDefinition, SensorEvaluationContext, SkipReason, define_asset_job, sensor,
)

from fare_assets.clock import retraining_window
from fare_assets.settings import Settings

training_job = define_asset_job(
    "training_job",
    AssetSelection.assets("feature_table", "model_version", "training_baseline", "champion_alias", "serving_endpoint"),
    description="Featurize the training window, train and register a Challenger, validate, promote, deploy.",
)
batch_inference_job = define_asset_job(
    "batch_inference_job", AssetSelection.assets("predictions"),
    description="Score the next batch window after the watermark with the Champion.",
)
monitoring_job = define_asset_job(
    "monitoring_job", AssetSelection.assets("model_monitoring"),
    description="Compare the last monitoring window with its model's baseline.",
)

batch_inference_schedule = ScheduleDefinition(
    name="batch_inference_schedule", job=batch_inference_job, cron_schedule="0 */6 * * *",
    default_status=DefaultScheduleStatus.STOPPED,
)
monitoring_schedule = ScheduleDefinition(
    name="monitoring_schedule", job=monitoring_job, cron_schedule="30 0 * * *",
    default_status=DefaultScheduleStatus.STOPPED,
)


def build_drift_sensor(settings: Settings):
    @sensor(
        name="drift_sensor", job=training_job, default_status=DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=60,
        description="Requests training_job once for each model_monitoring result that says should_retrain.",
    )
    def drift_sensor(context: SensorEvaluationContext):
        # The cursor is the storage id of the last monitoring result seen: each result is judged
        # once, and every firing one (not only the newest) gets its own run key.
        after = int(context.cursor) if context.cursor else None
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("model_monitoring"), after_storage_id=after),
            limit=100, ascending=True,
        ).records
        if not records:
            return SkipReason("no new model_monitoring result")
        context.update_cursor(str(records[-1].storage_id))
        requests = [retraining_request(r, settings.retrain_days) for r in records]
        return [r for r in requests if r is not None] or SkipReason(
            f"{len(records)} new monitoring result(s), none asks for retraining")

    return drift_sensor


def retraining_request(record, retrain_days: int) -> RunRequest | None:
    metadata = record.asset_materialization.metadata
    if "should_retrain" not in metadata or not metadata["should_retrain"].value:
        return None
    start, end = retraining_window(pd.Timestamp(metadata["watermark"].value), retrain_days)
    fired = metadata["fired"].value if "fired" in metadata else []
    return RunRequest(
        run_key=f"retrain-for-monitoring-result-{record.storage_id}",
        run_config={"ops": {"feature_table": {"config": {"train_start": str(start), "train_end": str(end)}}}},
        tags={"fare_assets/trigger": "drift", "fare_assets/fired": ",".join(fired)[:200]},
    )
