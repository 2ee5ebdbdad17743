"""The Databricks target materialises the whole asset graph, every task a (fake) serverless run.

Specification: with FARE_ASSETS_TARGET=databricks and nothing else but a volume and the SDK's
own authentication, `build_definitions(Settings.from_env(env))` materialises all seven assets;
each task is submitted as a one-task serverless `spark_python_task` on the default environment
version that installs the task wheel from the volume and only the packages its base image lacks
or must hold at our version (job_dependencies), receives only the Pipes bootstrap
paths as CLI arguments, and never sees a credential of ours. Tables land in the metastore of
the workspace's compute, models in its registry (Champion aliased), and the serving endpoint
is configured with the Champion's explicit version.

The workspace is `FakeWorkspace` (its REST API, reached by the real databricks-sdk); its runs
execute on `FakeCluster` under the environment version's serverless rules: Spark Connect sessions
of one warm Spark Connect server, UDF workers that import the wheel only where the version allows,
and a local MLflow store behind the `databricks` / `databricks-uc` URIs whose experiments must live
in an existing workspace folder.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from dagster_pipes import decode_param
from mlflow import MlflowClient

from fare_assets import definitions
from fare_assets.databricks.dependencies import job_dependencies
from fare_assets.databricks.environment import DEFAULT_ENVIRONMENT_VERSION, ENVIRONMENTS
from fare_assets.databricks.runner import DatabricksTaskRunner
from fare_assets.ml.synthetic import generate_trips
from fare_assets.settings import Settings
from fare_assets_tests.databricks.conftest import clear_databricks_env
from fare_assets_tests.databricks.fake_workspace import FakeWorkspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CATALOG, SCHEMA = "spark_catalog", "fare_e2e"  # the fake cluster's metastore is Spark's session catalog
VOLUME = f"/Volumes/{CATALOG}/{SCHEMA}/fare_assets"
TRIPS_TABLE = f"{CATALOG}.nyctaxi.trips"
MODEL = f"{CATALOG}.{SCHEMA}.fare_predictor"
ENDPOINT = f"{SCHEMA}_fare_predictor_endpoint"
ASSETS = ("feature_table", "model_version", "training_baseline", "champion_alias", "serving_endpoint",
          "predictions", "model_monitoring")
TASKS = {"build_features", "train_model", "compute_baseline", "promote_champion", "deploy_endpoint",
         "score_batch", "monitor_drift"}
BUDGET_SECONDS = 120


def nyctaxi_trips() -> pd.DataFrame:
    """Two and a half weeks of trips in the columns of samples.nyctaxi.trips."""
    trips = generate_trips(pd.Timestamp("2016-01-04"), pd.Timestamp("2016-01-21"))
    return trips[["tpep_pickup_datetime", "tpep_dropoff_datetime", "trip_distance", "fare_amount",
                  "pickup_zip", "dropoff_zip"]]


@pytest.fixture
def databricks(cluster, spark, tmp_path, monkeypatch):
    """A workspace whose runs execute on the warm cluster; the SDK finds it through the environment."""
    clear_databricks_env(monkeypatch, tmp_path)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {TRIPS_TABLE.rsplit('.', 1)[0]}")
    spark.createDataFrame(nyctaxi_trips()).write.mode("overwrite").saveAsTable(TRIPS_TABLE)
    with FakeWorkspace(tmp_path / "workspace", volumes=(VOLUME.removeprefix("/Volumes/").replace("/", "."),),
                       tables=(TRIPS_TABLE,), cluster=cluster) as workspace:
        workspace.serving.predictor = cluster.predictor()
        workspace.serving.update_polls = 0  # waiting on an update is test_serving's subject, not this one's
        monkeypatch.setenv("DATABRICKS_HOST", workspace.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", workspace.token)
        yield workspace, cluster


def materialize_everything(tmp_path, instance: DagsterInstance, monkeypatch):
    env = {
        "FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": VOLUME,
        "FARE_ASSETS_CATALOG": CATALOG, "FARE_ASSETS_SCHEMA": SCHEMA,
        "FARE_ASSETS_DATABRICKS_SOURCE_TABLE": TRIPS_TABLE,
        "FARE_ASSETS_TRAIN_START": "2016-01-04", "FARE_ASSETS_TRAIN_END": "2016-01-18",
        "FARE_ASSETS_HOME": str(tmp_path / "home"),
    }
    chosen = definitions.open_target

    def polling_the_fake_quickly(settings: Settings):
        target = chosen(settings)
        runner = target.task_runner()
        assert isinstance(runner, DatabricksTaskRunner)
        # The runner the settings chose, polling every 0.2 s instead of Databricks' 5 s.
        target.task_runner = lambda: DatabricksTaskRunner(settings_env=runner.settings_env, poll_interval_seconds=0.2,
                                                          message_interval_seconds=0.2)
        return target

    monkeypatch.setattr(definitions, "open_target", polling_the_fake_quickly)
    defs = definitions.build_definitions(Settings.from_env(env))
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[AssetKey(a) for a in ASSETS], raise_on_error=False)


def metadata_of(result) -> dict[str, dict]:
    return {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def test_the_databricks_target_materialises_the_whole_graph(databricks, tmp_path, monkeypatch):
    workspace, cluster = databricks
    (tmp_path / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "dagster"))  # the user's deployment, here a temp dir
    started = time.perf_counter()
    result = materialize_everything(tmp_path, instance, monkeypatch)
    seconds = time.perf_counter() - started
    failures = [str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, "\n".join(failures)

    # Every asset materialised, each by one serverless run of its task.
    metadata = metadata_of(result)
    assert set(metadata) == set(ASSETS)
    submits = workspace.requests_to("POST", "/api/2.2/jobs/runs/submit")
    assert {s.body["tasks"][0]["spark_python_task"]["parameters"][0] for s in submits} == {f"tasks.{t}" for t in TASKS}
    assert len(submits) == len(TASKS)
    assert all(run.result_state == "SUCCESS" for run in workspace.jobs.runs.values())

    # The data went where the settings say: Unity Catalog names, the workspace's registry.
    assert metadata["feature_table"]["table"] == f"{CATALOG}.{SCHEMA}.feature_table"
    assert metadata["feature_table"]["source"] == f"uc:{TRIPS_TABLE}"
    assert metadata["model_version"]["registered_model"] == MODEL
    version = metadata["model_version"]["version"]
    registry = MlflowClient(cluster.mlflow_uri, cluster.mlflow_uri)
    # The experiment lives in a workspace folder that the target created (the fake refuses it otherwise).
    assert workspace.local_path("/Shared/fare_assets").is_dir()
    assert registry.get_experiment_by_name(f"/Shared/fare_assets/{MODEL}") is not None
    assert int(registry.get_model_version_by_alias(MODEL, "Champion").version) == version
    assert metadata["champion_alias"]["champion_version"] == version
    assert metadata["predictions"]["rows"] > 0 and metadata["predictions"]["model_version"] == version
    # Scored in Spark (databricks/batch.py): all rows new, the MAE a Spark aggregate.
    assert metadata["predictions"]["rows_inserted"] == metadata["predictions"]["rows"]
    assert isinstance(metadata["predictions"]["batch_mae"], float)
    assert metadata["model_monitoring"]["model_version"] == version
    # The monitoring run was logged by the task, in the workspace's MLflow, and linked from there.
    run_id = metadata["model_monitoring"]["mlflow_run"].rsplit("/runs/", 1)[1]
    assert registry.get_run(run_id).data.tags["fare_assets.kind"] == "monitoring"

    # The endpoint was told the Champion's explicit version (never an alias), and answers with it.
    [create] = workspace.requests_to("POST", "/api/2.0/serving-endpoints")
    [entity] = create.body["config"]["served_entities"]
    assert (entity["entity_name"], entity["entity_version"]) == (MODEL, str(version))
    assert workspace.serving.endpoints[ENDPOINT].config["served_entities"][0]["entity_version"] == str(version)
    assert metadata["serving_endpoint"]["served_version"] == version

    # The exact requests: a serverless Python task with the pinned environment, Pipes as CLI arguments.
    # (one wheel for an unchanged tree; another only if the task code changed while the graph ran)
    wheels = {r.path.removeprefix("/api/2.0/fs/files") for r in workspace.requests_to("PUT", "/api/2.0/fs/files")
              if "/wheels/" in r.path}
    pins = job_dependencies(ENVIRONMENTS[DEFAULT_ENVIRONMENT_VERSION])
    for submit in submits:
        assert set(submit.body) == {"tasks", "environments", "run_name"}, "no cluster, no job-level extras"
        [task] = submit.body["tasks"]
        assert set(task) == {"task_key", "environment_key", "spark_python_task"}, "no cluster spec, no libraries"
        assert task["environment_key"] == "fare_assets"
        assert task["spark_python_task"]["python_file"].startswith("/Users/someone@example.com/.fare_assets/entry_")
        module, *pipes_args = task["spark_python_task"]["parameters"]
        assert task["task_key"] == module.removeprefix("tasks.")
        assert submit.body["run_name"].startswith(f"fare_assets.{module} (dagster run ")
        assert pipes_args[0::2] == ["--dagster-pipes-context", "--dagster-pipes-messages"]
        context, messages = (decode_param(value) for value in pipes_args[1::2])
        assert set(context) == {"path"} and messages.keys() == {"path", "include_stdio_in_messages"}
        assert messages["include_stdio_in_messages"] is False  # stdout/stderr stay in the run's driver log
        assert context["path"].startswith(f"{VOLUME}/pipes/tmp/") and messages["path"].startswith(f"{VOLUME}/pipes/tmp/")
        [environment] = submit.body["environments"]
        wheel = environment["spec"]["dependencies"][0]
        assert environment == {"environment_key": "fare_assets", "spec": {
            "environment_version": DEFAULT_ENVIRONMENT_VERSION, "dependencies": [wheel, *pins]}}
        assert wheel in wheels and wheel.startswith(f"{VOLUME}/wheels/fare_assets-") and wheel.endswith(".whl")
    # Only what the base image lacks or must hold at our version; pandas, numpy, pyarrow come from the base.
    assert {p.split("==")[0] for p in pins} <= {"dagster-pipes", "mlflow", "scikit-learn", "skops"}
    assert "dagster-pipes" in {p.split("==")[0] for p in pins}

    # No credential anywhere: not in a request body, not in a Dagster event or its metadata.
    assert not [r.path for r in workspace.requests if workspace.token.encode() in r.raw]
    logged = [str(record) for record in instance.all_logs(result.run_id)]
    assert logged and not [line for line in logged if workspace.token in line or "DATABRICKS_TOKEN" in line]
    assert workspace.token not in str(metadata)
    instance.dispose()

    runs = ", ".join(f"{r.request['tasks'][0]['task_key']} {r.seconds:.1f} s" for r in workspace.jobs.runs.values())
    print(f"\nwhole graph on the fake Databricks target: {seconds:.1f} s ({runs})")
    # Twice the budget: this catches a regression (a hang, a slow poll), not a busy machine.
    assert seconds <= 2 * BUDGET_SECONDS
