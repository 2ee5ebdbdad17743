"""Jobs, schedules, and the drift sensor that closes the loop by requesting retraining."""


from datetime import timedelta

import pandas as pd
from dagster import (
    AssetKey, AssetSelection, DefaultScheduleStatus, DefaultSensorStatus, EventLogEntry, RunRequest,
    SensorEvaluationContext, SkipReason, asset_sensor, define_asset_job,
)
from dagster import ScheduleDefinition

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


def retraining_window(watermark: pd.Timestamp, retrain_days: int) -> tuple[str, str]:
    """The last `retrain_days` of data time before the watermark, as whole days (end exclusive)."""
    end = watermark.floor("D")
    return str((end - timedelta(days=retrain_days)).date()), str(end.date())


def build_drift_sensor(settings: Settings):
    @asset_sensor(
        asset_key=AssetKey("model_monitoring"), job=training_job, name="drift_sensor",
        default_status=DefaultSensorStatus.STOPPED, minimum_interval_seconds=60,
        description="Requests training_job once for each model_monitoring result that says should_retrain.",
    )
    def drift_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
        # asset_sensor keeps the cursor: each monitoring result is seen exactly once.
        metadata = asset_event.asset_materialization.metadata
        if not metadata.get("should_retrain") or not metadata["should_retrain"].value:
            return SkipReason(f"monitoring result {asset_event.run_id} does not ask for retraining")
        start, end = retraining_window(pd.Timestamp(metadata["watermark"].value), settings.retrain_days)
        fired = metadata["fired"].value if "fired" in metadata else []
        return RunRequest(
            run_key=f"retrain-for-monitoring-run-{asset_event.run_id}",
            run_config={"ops": {"feature_table": {"config": {"train_start": start, "train_end": end}}}},
            tags={"fare_assets/trigger": "drift", "fare_assets/fired": ",".join(fired)[:200]},
        )

    return drift_sensor
