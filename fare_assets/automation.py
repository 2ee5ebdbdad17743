"""Jobs, schedules, and the drift sensor that closes the loop by requesting retraining."""

from collections.abc import Callable

import pandas as pd
from dagster import (
    AssetKey, AssetRecordsFilter, AssetSelection, DagsterRunStatus, DefaultScheduleStatus, DefaultSensorStatus,
    RunRequest, RunsFilter, ScheduleDefinition, ScheduleEvaluationContext, SensorEvaluationContext, SkipReason,
    define_asset_job, schedule, sensor,
)

from fare_assets.clock import batch_window, retraining_window, shift_training_window, waits_for_horizon
from fare_assets.settings import Settings

SHIFT_TAG = "fare_assets/shift_start"
SHIFT_RETRAIN_TAG = "fare_assets/shift_retrain"  # "2 of 2": which of the shift's allowed runs this is
# How many earlier monitoring results the sensor reads back to find where a run of alarms began.
ALARM_LOOKBACK = 200
NOT_COUNTED = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]

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

monitoring_schedule = ScheduleDefinition(
    name="monitoring_schedule", job=monitoring_job, cron_schedule="30 0 * * *",
    default_status=DefaultScheduleStatus.STOPPED,
)


def build_batch_inference_schedule(settings: Settings, horizon: Callable[[], pd.Timestamp | None]):
    """The batch schedule, skipping (with the reason) while the next window would end past the data
    horizon. `horizon` is what the Dagster side can know cheaply: None when it cannot know."""

    @schedule(name="batch_inference_schedule", job=batch_inference_job, cron_schedule="0 */6 * * *",
              default_status=DefaultScheduleStatus.STOPPED,
              description="Scores the next batch window once the source's data covers all of it.")
    def batch_inference_schedule(context: ScheduleEvaluationContext):
        watermark = recorded_watermark(context.instance)
        if watermark is None:
            return SkipReason("no watermark yet: run training_job first")
        window, known = batch_window(watermark, settings.batch_window), horizon()
        if waits_for_horizon(window, known):
            return SkipReason(f"waiting: the next window {window} ends after the source's data horizon {known}")
        return RunRequest()

    return batch_inference_schedule


def recorded_watermark(instance) -> pd.Timestamp | None:
    """The watermark as Dagster's records know it (the newest scoring, else the training window's
    end): no table read, so it works where the tables are out of reach (Databricks)."""
    for asset, key in (("predictions", "watermark"), ("feature_table", "window_end")):
        event = instance.get_latest_materialization_event(AssetKey(asset))
        if event and event.asset_materialization and key in event.asset_materialization.metadata:
            return pd.Timestamp(event.asset_materialization.metadata[key].value)
    return None


def build_drift_sensor(settings: Settings):
    @sensor(
        name="drift_sensor", job=training_job, default_status=DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=60,
        description=(f"Requests training_job for model_monitoring results that say should_retrain, on the data "
                     f"since the shift began; at most {settings.max_retrains_per_shift} runs per shift."),
    )
    def drift_sensor(context: SensorEvaluationContext):
        # The cursor is the storage id of the last monitoring result seen: each result is judged
        # once, and every firing one (not only the newest) is considered.
        after = int(context.cursor) if context.cursor else None
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("model_monitoring"), after_storage_id=after),
            limit=100, ascending=True,
        ).records
        if not records:
            return SkipReason("no new model_monitoring result")
        context.update_cursor(str(records[-1].storage_id))
        requests, refused = [], []
        for record in filter(fires, records):
            shift = shift_start(context.instance, record)
            done = retrains_for_shift(context.instance, shift) + sum(r.tags.get(SHIFT_TAG) == str(shift) for r in requests)
            if shift is not None and done >= settings.max_retrains_per_shift:
                refused.append(f"monitoring result {record.storage_id} fired, but the shift that began {shift} "
                               f"has had {done} retraining runs ({settings.max_retrains_per_shift} at most per shift)")
                continue
            requests.append(retraining_request(record, settings, shift, done + 1))
        return requests or SkipReason("; ".join(refused) or f"{len(records)} new monitoring result(s), "
                                                            "none asks for retraining")

    return drift_sensor


def fires(record) -> bool:
    metadata = record.asset_materialization.metadata
    return "should_retrain" in metadata and bool(metadata["should_retrain"].value)


def shift_start(instance, record) -> pd.Timestamp | None:
    """When the shift behind a firing result began: the start of the first window in the unbroken
    run of firing results that ends with this one (None if the results carry no window)."""
    start = window_start(record)
    earlier = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("model_monitoring"), before_storage_id=record.storage_id),
        limit=ALARM_LOOKBACK, ascending=False).records
    for previous in earlier:
        if not fires(previous) or window_start(previous) is None:
            break
        start = window_start(previous)
    return start


def window_start(record) -> pd.Timestamp | None:
    metadata = record.asset_materialization.metadata
    return pd.Timestamp(metadata["window_start"].value) if "window_start" in metadata else None


def retrains_for_shift(instance, shift: pd.Timestamp | None) -> int:
    """Training runs already requested for this shift (queued, running or done; not failed)."""
    if shift is None:
        return 0
    runs = instance.get_run_records(RunsFilter(job_name=training_job.name, tags={SHIFT_TAG: str(shift)}))
    return sum(r.dagster_run.status not in NOT_COUNTED for r in runs)


def last_retrain_of_shift(run_tags: dict[str, str]) -> bool:
    """Whether a run is its shift's last allowed retraining run (tagged "2 of 2" by retraining_request
    below): no more will follow for that shift."""
    done, _, allowed = run_tags.get(SHIFT_RETRAIN_TAG, "").partition(" of ")
    return done.isdigit() and allowed.isdigit() and int(done) >= int(allowed)


def retraining_request(record, settings: Settings, shift: pd.Timestamp | None = None, attempt: int = 1) -> RunRequest:
    """Training on the data since the shift began (reaching back for `retrain_min_rows`), or, for a
    result that carries no window, on the last `retrain_days` before its watermark."""
    metadata = record.asset_materialization.metadata
    watermark = pd.Timestamp(metadata["watermark"].value)
    fired = metadata["fired"].value if "fired" in metadata else []
    tags = {"fare_assets/trigger": "drift", "fare_assets/fired": ",".join(fired)[:200]}
    if shift is None:
        start, end = retraining_window(watermark, settings.retrain_days)
        config = {"train_start": str(start), "train_end": str(end)}
    else:
        start, end = shift_training_window(shift, watermark, settings.retrain_days)
        config = {"train_start": str(start), "train_end": str(end), "min_rows": settings.retrain_min_rows,
                  "shift_start": str(shift)}
        tags |= {SHIFT_TAG: str(shift), SHIFT_RETRAIN_TAG: f"{attempt} of {settings.max_retrains_per_shift}"}
    return RunRequest(run_key=f"retrain-for-monitoring-result-{record.storage_id}",
                      run_config={"ops": {"feature_table": {"config": config}}}, tags=tags)
