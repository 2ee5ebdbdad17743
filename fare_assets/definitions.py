"""Build the Definitions from settings: assets, jobs, schedules, the drift sensor and resources."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from fare_assets.assets.deployment import champion_alias, serving_endpoint
from fare_assets.assets.inference import predictions
from fare_assets.assets.monitoring import model_monitoring
from fare_assets.assets.sources import trips_spec
from fare_assets.assets.training import feature_table, model_version, training_baseline
from fare_assets.automation import (
    batch_inference_job, batch_inference_schedule, build_drift_sensor, monitoring_job, monitoring_schedule,
    training_job,
)
from fare_assets.backends import open_target
from fare_assets.settings import Settings


def build_definitions(settings: Settings) -> Definitions:
    target = open_target(settings)
    return Definitions(
        assets=[
            trips_spec(target.source_description()),
            feature_table, model_version, training_baseline, champion_alias, serving_endpoint,
            predictions, model_monitoring,
        ],
        jobs=[training_job, batch_inference_job, monitoring_job],
        schedules=[batch_inference_schedule, monitoring_schedule],
        sensors=[build_drift_sensor(settings)],
        resources={"task_runner": target.task_runner()},
        # The graph is a chain: separate step processes would only add start-up time.
        executor=in_process_executor,
    )
