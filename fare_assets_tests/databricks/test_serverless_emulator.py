"""The fake workspace fails where serverless compute fails, per environment version.

Each rule here is one the Databricks path used to break on first contact (issue 9): the tests
show the emulator enforcing it, so that code breaking it fails the suite.
"""

from __future__ import annotations

import base64
import io
import re
import time

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs
from databricks.sdk.service.compute import Environment
from databricks.sdk.service.workspace import ImportFormat
from pyspark.errors import PySparkException

from fare_assets.databricks.wheel import build_task_wheel

VOLUME = "/Volumes/main/ml_serving/fare_assets"
UDF_IMPORTING_THE_WHEEL = """
from pyspark.sql import SparkSession
from pyspark.sql.functions import pandas_udf

spark = SparkSession.builder.getOrCreate()

@pandas_udf("string")
def where(ids):
    import fare_assets
    return ids.map(lambda _: fare_assets.__name__)

print(spark.range(2).select(where("id")).collect())
"""
EXPERIMENT_IN_A_MISSING_FOLDER = """
import mlflow
mlflow.set_tracking_uri("databricks")
mlflow.set_experiment("/Shared/nowhere/fare_predictor")
"""
UC_MODEL_REGISTRATIONS = """
import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.dummy import DummyRegressor

mlflow.set_tracking_uri("databricks")
mlflow.set_registry_uri("databricks-uc")
mlflow.set_experiment("/Shared/nowhere/fare_predictor")
model = DummyRegressor().fit([[1.0], [2.0]], [3.0, 4.0])
with mlflow.start_run():
    try:
        mlflow.sklearn.log_model(model, name="unsigned", registered_model_name="main.ml_serving.unsigned")
        raise SystemExit("Unity Catalog registered a model without a signature")
    except MlflowException as refused:
        assert "did not contain any signature" in str(refused), refused
    signature = infer_signature([[1.0]], model.predict([[1.0]]))
    mlflow.sklearn.log_model(model, name="signed", registered_model_name="main.ml_serving.signed", signature=signature)
"""


def run(client, source: str, version: str, dependencies: list[str]) -> jobs.RunState:
    path = f"/Users/someone@example.com/probe_{abs(hash(source))}.py"
    client.workspace.mkdirs(path.rsplit("/", 1)[0])
    client.workspace.import_(path, content=base64.b64encode(source.encode()).decode(), format=ImportFormat.AUTO,
                             overwrite=True)
    task = jobs.SubmitTask(task_key="t", environment_key="e", spark_python_task=jobs.SparkPythonTask(python_file=path))
    environment = jobs.JobEnvironment(environment_key="e", spec=Environment(environment_version=version,
                                                                            dependencies=dependencies))
    run_id = client.jobs.submit(tasks=[task], environments=[environment]).bind()["run_id"]
    while (state := client.jobs.get_run(run_id).state).life_cycle_state != jobs.RunLifeCycleState.TERMINATED:
        time.sleep(0.1)
    return state


@pytest.fixture
def wheel(serverless) -> str:
    built = build_task_wheel()
    path = f"{VOLUME}/wheels/{built.filename}"
    WorkspaceClient().files.upload(path, io.BytesIO(built.content), overwrite=True)
    return path


def test_dataframe_caching_fails_as_on_serverless(spark):
    with pytest.raises(PySparkException, match="NOT_SUPPORTED_WITH_SERVERLESS"):
        spark.range(3).cache()
    with pytest.raises(PySparkException, match="NOT_SUPPORTED_WITH_SERVERLESS"):
        spark.range(3).persist()


def test_driver_only_apis_and_undocumented_confs_fail(spark):
    with pytest.raises(PySparkException, match="JVM_ATTRIBUTE_NOT_SUPPORTED"):
        spark.sparkContext  # noqa: B018
    with pytest.raises(PySparkException, match="CONFIG_NOT_AVAILABLE"):
        spark.conf.set("spark.sql.adaptive.enabled", "false")
    spark.conf.set("spark.sql.session.timeZone", "UTC")


@pytest.mark.slow
def test_udfs_import_the_wheel_only_where_the_environment_allows_custom_libraries(serverless, wheel):
    client = WorkspaceClient()
    old = run(client, UDF_IMPORTING_THE_WHEEL, "2", [wheel])  # Databricks Connect 15.4
    assert old.result_state == jobs.RunResultState.FAILED
    assert "No module named 'fare_assets'" in old.state_message
    assert run(client, UDF_IMPORTING_THE_WHEEL, "5", [wheel]).result_state == jobs.RunResultState.SUCCESS


def test_a_dependency_replacing_a_base_package_across_a_major_version_fails_the_run(serverless, wheel):
    from importlib.metadata import version

    state = run(WorkspaceClient(), "print('never runs')", "2", [wheel, f"mlflow=={version('mlflow')}"])
    assert state.result_state == jobs.RunResultState.FAILED
    # mlflow 3 over mlflow-skinny 2.11.4, or its numpy 2 over numpy 1.23.5: whichever the resolver meets first.
    assert re.search(r"would replace (mlflow-skinny 2\.11\.4|numpy 1\.23\.5) of the base environment 2 with .*"
                     r"across a major version", state.state_message), state.state_message
    state = run(WorkspaceClient(), "print('never runs')", "5", [wheel, "pandas==3.0.0"])
    assert state.result_state == jobs.RunResultState.FAILED and "No matching distribution found for pandas==3.0.0" in state.state_message


def test_an_experiment_needs_an_existing_workspace_folder_and_a_uc_model_a_signature(serverless):
    client = WorkspaceClient()
    state = run(client, EXPERIMENT_IN_A_MISSING_FOLDER, "5", [])
    assert state.result_state == jobs.RunResultState.FAILED
    assert "RESOURCE_DOES_NOT_EXIST" in state.state_message and "/Shared/nowhere" in state.state_message
    client.workspace.mkdirs("/Shared/nowhere")
    # In the folder now: the experiment is set, and Unity Catalog refuses a version without a signature.
    state = run(client, UC_MODEL_REGISTRATIONS, "5", [])
    assert state.result_state == jobs.RunResultState.SUCCESS, state.state_message
