"""The Definitions: exactly the lineage of ARCHITECTURE.md, the three jobs, two schedules, one sensor."""

import pytest
from dagster import AssetKey

from fare_assets.definitions import build_definitions
from fare_assets.settings import Settings, SettingsError

LINEAGE = {
    "trips": set(),
    "feature_table": {"trips"},
    "model_version": {"feature_table"},
    "training_baseline": {"feature_table", "model_version"},
    "champion_alias": {"model_version"},
    "serving_endpoint": {"champion_alias"},
    "predictions": {"trips", "champion_alias"},
    "model_monitoring": {"predictions", "training_baseline"},
}


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    return build_definitions(Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path_factory.mktemp("home"))}))


def test_lineage_is_exactly_the_agreed_graph(defs):
    graph = defs.resolve_asset_graph()
    lineage = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys()}
    assert lineage == LINEAGE


def test_trips_is_external_and_every_other_asset_is_materializable(defs):
    graph = defs.resolve_asset_graph()
    assert not graph.get(AssetKey("trips")).is_materializable
    assert all(graph.get(AssetKey(name)).is_materializable for name in LINEAGE if name != "trips")


def test_every_asset_has_a_description(defs):
    graph = defs.resolve_asset_graph()
    assert all(graph.get(AssetKey(name)).description for name in LINEAGE)


def test_jobs_select_their_stages(defs):
    def selected(job):
        return {k.to_user_string() for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys}

    assert selected("training_job") == {
        "feature_table", "model_version", "training_baseline", "champion_alias", "serving_endpoint"}
    assert selected("batch_inference_job") == {"predictions"}
    assert selected("monitoring_job") == {"model_monitoring"}


def test_schedules_and_the_drift_sensor_exist(defs):
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["batch_inference_schedule"].cron_schedule == "0 */6 * * *"
    assert schedules["batch_inference_schedule"].job_name == "batch_inference_job"
    assert schedules["monitoring_schedule"].job_name == "monitoring_job"
    [sensor] = defs.sensors
    assert sensor.name == "drift_sensor" and sensor.job_name == "training_job"


def test_the_databricks_target_without_configuration_fails_with_what_to_set(tmp_path):
    with pytest.raises(SettingsError, match="FARE_ASSETS_VOLUME=/Volumes/<catalog>/<schema>/<volume>"):
        build_definitions(Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path), "FARE_ASSETS_TARGET": "databricks"}))


# What every target must define, by name: a change here is a change users see in the UI.
SNAPSHOT = {
    "assets": sorted(LINEAGE),
    "jobs": ["batch_inference_job", "monitoring_job", "training_job"],
    "schedules": ["batch_inference_schedule", "monitoring_schedule"],
    "sensors": ["drift_sensor"],
    "resources": ["monitoring_reports", "task_runner"],
}
TARGET_ENV = {
    "local": {},
    "databricks": {"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": "/Volumes/main/ml_serving/fare_assets"},
}


@pytest.mark.parametrize(("target", "runner"), [("local", "LocalTaskRunner"), ("databricks", "DatabricksTaskRunner")])
def test_both_targets_define_the_same_graph_and_differ_only_in_the_task_runner_and_where_monitoring_is_reported(tmp_path, target, runner):
    defs = build_definitions(Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path), **TARGET_ENV[target]}))
    graph = defs.resolve_asset_graph()
    snapshot = {
        "assets": sorted(key.to_user_string() for key in graph.get_all_asset_keys()),
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": sorted(s.name for s in defs.schedules),
        "sensors": sorted(s.name for s in defs.sensors),
        "resources": sorted(defs.resources),
    }
    assert snapshot == SNAPSHOT
    assert type(defs.resources["task_runner"]).__name__ == runner
    # Locally the Dagster process draws the monitoring chart and logs its MLflow run; on Databricks the task does.
    assert defs.resources["monitoring_reports"].in_task is (target == "databricks")
