"""The drift sensor: one training run per monitoring result that asks for it, never two."""

import pytest
from dagster import AssetMaterialization, DagsterInstance, build_sensor_context

from fare_assets.automation import build_drift_sensor
from fare_assets.settings import Settings


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def monitoring_result(instance, should_retrain: bool, watermark: str = "2016-04-10 06:00:00"):
    instance.report_runless_asset_event(AssetMaterialization(
        "model_monitoring",
        metadata={"should_retrain": should_retrain, "watermark": watermark, "fired": ["mae_rise"] if should_retrain else []},
    ))


def tick(sensor, instance, cursor):
    result = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    return result.run_requests, result.cursor


def test_fires_once_for_a_retrain_result_and_not_again_for_the_same_result(instance):
    sensor = build_drift_sensor(Settings.from_env({"FARE_ASSETS_RETRAIN_DAYS": "30"}))
    monitoring_result(instance, should_retrain=True)
    requests, cursor = tick(sensor, instance, None)
    assert len(requests) == 1
    assert requests[0].job_name in (None, "training_job")
    window = requests[0].run_config["ops"]["feature_table"]["config"]
    assert window == {"train_start": "2016-03-11", "train_end": "2016-04-10"}
    assert requests[0].tags["fare_assets/fired"] == "mae_rise"
    again, _ = tick(sensor, instance, cursor)
    assert again == []


def test_a_clean_result_requests_nothing(instance):
    sensor = build_drift_sensor(Settings.from_env({}))
    monitoring_result(instance, should_retrain=False)
    requests, _ = tick(sensor, instance, None)
    assert requests == []


def test_each_new_retrain_result_gets_its_own_run(instance):
    sensor = build_drift_sensor(Settings.from_env({}))
    monitoring_result(instance, should_retrain=True, watermark="2016-04-10 06:00:00")
    first, cursor = tick(sensor, instance, None)
    monitoring_result(instance, should_retrain=False)
    monitoring_result(instance, should_retrain=True, watermark="2016-04-12 06:00:00")
    second, _ = tick(sensor, instance, cursor)
    assert len(first) == 1 and len(second) == 1
    assert first[0].run_key != second[0].run_key
