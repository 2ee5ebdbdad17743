"""Build the Definitions from settings: assets, jobs, schedules, the drift sensor and resources."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, Definitions, PreviewWarning, in_process_executor

from fare_assets.assets.deployment import champion_alias, serving_endpoint
from fare_assets.assets.inference import predictions
from fare_assets.assets.monitoring import model_monitoring
from fare_assets.assets.sources import trips_spec
from fare_assets.assets.training import feature_table, model_version, training_baseline
from fare_assets.automation import (
    batch_inference_job, build_batch_inference_schedule, build_drift_sensor, monitoring_job, monitoring_schedule,
    training_job,
)
from fare_assets.backends import open_target
from fare_assets.resources.monitoring_reports import MonitoringReports
from fare_assets.settings import Settings


# Dagster's own Pipes client and its CLI's selection parser call Dagster's preview and beta APIs on
# every run: warnings about Dagster's internals that a user of this project cannot act on.
warnings.filterwarnings("ignore", category=PreviewWarning, module=r"dagster\._core\.pipes")
warnings.filterwarnings("ignore", category=BetaWarning, module=r"dagster\._core\.definitions\.antlr_asset_selection")
warnings.filterwarnings("ignore", message="AssetExecutionContext.(run_id|dagster_run) is deprecated",
                        module=r"dagster\._core\.pipes")
warnings.filterwarnings("ignore", category=PreviewWarning, module=r"dagster_databricks\.pipes")


def build_definitions(settings: Settings) -> Definitions:
    target = open_target(settings)
    return Definitions(
        assets=[
            trips_spec(target.source_description()),
            feature_table, model_version, training_baseline, champion_alias, serving_endpoint,
            predictions, model_monitoring,
        ],
        jobs=[training_job, batch_inference_job, monitoring_job],
        schedules=[build_batch_inference_schedule(settings, target.scheduling_horizon), monitoring_schedule],
        sensors=[build_drift_sensor(settings)],
        resources={"task_runner": target.task_runner(),
                   "monitoring_reports": MonitoringReports(settings_env=settings.to_env())},
        # The graph is a chain: separate step processes would only add start-up time.
        executor=in_process_executor,
    )
