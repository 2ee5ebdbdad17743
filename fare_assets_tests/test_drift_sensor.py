"""The drift sensor: one training run per monitoring result that asks for it, never two; the run
trains on the data since the shift began, and a shift costs at most two runs."""

import pandas as pd
import pytest
from dagster import AssetMaterialization, DagsterInstance, DagsterRun, DagsterRunStatus, build_sensor_context

from fare_assets.automation import SHIFT_TAG, build_drift_sensor, last_retrain_of_shift
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


def weekly_result(instance, start: str, should_retrain: bool):
    """A monitoring result as model_monitoring reports it: with its window."""
    end = str(pd.Timestamp(start) + pd.Timedelta(days=7))
    instance.report_runless_asset_event(AssetMaterialization("model_monitoring", metadata={
        "should_retrain": should_retrain, "fired": ["fare_level"] if should_retrain else [],
        "window_start": f"{start} 00:00:00", "window_end": end, "watermark": end}))


def tick(sensor, instance, cursor):
    result = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    return result.run_requests, result.cursor


def ran(instance, request, status=DagsterRunStatus.SUCCESS):
    """What the daemon (or the replay) does with a request: a training_job run with its tags."""
    instance.add_run(DagsterRun(job_name="training_job", tags=dict(request.tags), status=status))


def test_fires_once_for_a_retrain_result_and_not_again_for_the_same_result(instance):
    sensor = build_drift_sensor(Settings.from_env({"FARE_ASSETS_RETRAIN_DAYS": "30"}))
    monitoring_result(instance, should_retrain=True)
    requests, cursor = tick(sensor, instance, None)
    assert len(requests) == 1
    assert requests[0].job_name in (None, "training_job")
    window = requests[0].run_config["ops"]["feature_table"]["config"]
    assert window == {"train_start": "2016-03-11", "train_end": "2016-04-10"}  # a result without its window
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


def test_retraining_starts_where_the_run_of_alarms_began_and_reaches_back_for_rows(instance):
    sensor = build_drift_sensor(Settings.from_env({}))
    weekly_result(instance, "2016-03-01", should_retrain=False)
    weekly_result(instance, "2016-03-08", should_retrain=True)
    [first], cursor = tick(sensor, instance, None)
    ran(instance, first)
    weekly_result(instance, "2016-03-15", should_retrain=True)
    [second], _ = tick(sensor, instance, cursor)
    assert first.run_config["ops"]["feature_table"]["config"] == {
        "train_start": "2016-03-08", "train_end": "2016-03-15", "min_rows": 1000,
        "shift_start": "2016-03-08 00:00:00"}
    config = second.run_config["ops"]["feature_table"]["config"]
    assert (config["train_start"], config["train_end"]) == ("2016-03-08", "2016-03-22")
    assert first.tags[SHIFT_TAG] == second.tags[SHIFT_TAG] == "2016-03-08 00:00:00"
    assert second.tags["fare_assets/shift_retrain"] == "2 of 2"


def alarms_for_four_weeks(instance, sensor):
    cursor, requested = None, []
    for week in ("2016-03-08", "2016-03-15", "2016-03-22", "2016-03-29"):
        weekly_result(instance, week, should_retrain=True)
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
        cursor = result.cursor
        for request in result.run_requests:
            ran(instance, request)
            requested.append(request)
    return requested, result


def test_a_shift_costs_at_most_two_retraining_runs_and_the_sensor_says_why(instance):
    requested, last = alarms_for_four_weeks(instance, build_drift_sensor(Settings.from_env({})))
    assert len(requested) == 2
    # Only the second run knows it is the last: a Champion it keeps is judged against the new normal.
    assert [last_retrain_of_shift(request.tags) for request in requested] == [False, True]
    assert "the shift that began 2016-03-08 00:00:00 has had 2 retraining runs" in last.skip_message


def test_the_retraining_budget_and_minimum_rows_are_settings(instance):
    settings = Settings.from_env({"FARE_ASSETS_MAX_RETRAINS_PER_SHIFT": "1", "FARE_ASSETS_RETRAIN_MIN_ROWS": "500"})
    requested, last = alarms_for_four_weeks(instance, build_drift_sensor(settings))
    [only] = requested
    assert only.run_config["ops"]["feature_table"]["config"]["min_rows"] == 500
    assert only.tags["fare_assets/shift_retrain"] == "1 of 1"
    assert "has had 1 retraining runs (1 at most per shift)" in last.skip_message


def test_a_failed_run_does_not_count_and_a_quiet_window_ends_the_shift(instance):
    sensor = build_drift_sensor(Settings.from_env({}))
    weekly_result(instance, "2016-03-08", should_retrain=True)
    [first], cursor = tick(sensor, instance, None)
    ran(instance, first, DagsterRunStatus.FAILURE)
    weekly_result(instance, "2016-03-15", should_retrain=False)
    weekly_result(instance, "2016-03-22", should_retrain=True)
    [second], _ = tick(sensor, instance, cursor)
    assert second.tags[SHIFT_TAG] == "2016-03-22 00:00:00"
    assert second.tags["fare_assets/shift_retrain"] == "1 of 2"
