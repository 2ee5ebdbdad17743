"""The fake workspace speaks the REST API the real databricks-sdk client expects."""

from __future__ import annotations

import base64
import io
import time

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.service import jobs, serving
from databricks.sdk.service.workspace import ImportFormat
from databricks.sdk.service.compute import Environment

VOLUME = "/Volumes/main/ml_serving/fare_assets"


def test_files_api_round_trips_bytes_through_a_volume(workspace):
    client = WorkspaceClient()
    client.files.upload(f"{VOLUME}/a/b.bin", io.BytesIO(b"\x00payload"), overwrite=True)
    assert client.files.download(f"{VOLUME}/a/b.bin").contents.read() == b"\x00payload"
    assert client.files.get_metadata(f"{VOLUME}/a/b.bin").content_length == 8
    assert [e.name for e in client.files.list_directory_contents(f"{VOLUME}/a")] == ["b.bin"]
    client.files.delete(f"{VOLUME}/a/b.bin")
    with pytest.raises(NotFound):
        client.files.get_metadata(f"{VOLUME}/a/b.bin")


def test_a_missing_volume_is_not_found(workspace):
    with pytest.raises(NotFound):
        WorkspaceClient().files.upload("/Volumes/main/ml_serving/other/x", io.BytesIO(b"x"))


def test_a_wrong_token_is_unauthenticated(workspace):
    with pytest.raises((Unauthenticated, PermissionDenied)):
        WorkspaceClient(host=workspace.host, token="wrong").current_user.me()


def test_workspace_import_writes_a_file(workspace):
    client = WorkspaceClient()
    client.workspace.mkdirs("/Users/someone@example.com/fare_assets")
    client.workspace.import_("/Users/someone@example.com/fare_assets/x.py", content=b64(b"print(1)"),
                             format=ImportFormat.AUTO, overwrite=True)
    assert client.workspace.get_status("/Users/someone@example.com/fare_assets/x.py").path.endswith("x.py")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def submit(client, script: str, parameters: list[str]) -> int:
    task = jobs.SubmitTask(task_key="t", environment_key="env",
                           spark_python_task=jobs.SparkPythonTask(python_file=script, parameters=parameters))
    env = jobs.JobEnvironment(environment_key="env", spec=Environment(environment_version="2"))
    return client.jobs.submit(tasks=[task], environments=[env], run_name="t").bind()["run_id"]


def wait_terminal(client, run_id: int) -> jobs.RunState:
    for _ in range(200):
        state = client.jobs.get_run(run_id).state
        if state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED:
            return state
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def write_script(client, path: str, source: str) -> None:
    client.workspace.mkdirs(path.rsplit("/", 1)[0])
    client.workspace.import_(path, content=b64(source.encode()), format=ImportFormat.AUTO, overwrite=True)


def test_a_submitted_run_executes_the_workspace_script_with_its_parameters(workspace):
    client = WorkspaceClient()
    write_script(client, "/Users/u/s.py", "import sys; sys.exit(0 if sys.argv[1:] == ['a', 'b'] else 3)")
    assert wait_terminal(client, submit(client, "/Users/u/s.py", ["a", "b"])).result_state == jobs.RunResultState.SUCCESS
    failed = wait_terminal(client, submit(client, "/Users/u/s.py", ["c"]))
    assert failed.result_state == jobs.RunResultState.FAILED and "exit code 3" in failed.state_message


def test_a_python_task_without_an_environment_is_rejected(workspace):
    task = jobs.SubmitTask(task_key="t", spark_python_task=jobs.SparkPythonTask(python_file="/Users/u/s.py"))
    with pytest.raises(Exception, match="environment_key"):
        WorkspaceClient().jobs.submit(tasks=[task])


def test_cancelling_a_run_kills_its_process(workspace):
    client = WorkspaceClient()
    write_script(client, "/Users/u/sleep.py", "import time; time.sleep(60)")
    run_id = submit(client, "/Users/u/sleep.py", [])
    while client.jobs.get_run(run_id).state.life_cycle_state != jobs.RunLifeCycleState.RUNNING:
        time.sleep(0.05)
    client.jobs.cancel_run(run_id)
    state = wait_terminal(client, run_id)
    assert state.result_state == jobs.RunResultState.CANCELED
    assert workspace.jobs.runs[run_id].process.poll() is not None


def test_serving_endpoint_update_that_fails_keeps_the_old_config(workspace):
    client = WorkspaceClient()
    entity = lambda v: serving.ServedEntityInput(entity_name="main.ml_serving.m", entity_version=v,  # noqa: E731
                                                 workload_size="Small", scale_to_zero_enabled=True)
    client.serving_endpoints.create(name="ep", config=serving.EndpointCoreConfigInput(served_entities=[entity("1")]))
    ready = client.serving_endpoints.wait_get_serving_endpoint_not_updating("ep")
    assert ready.config.served_entities[0].entity_version == "1"
    workspace.serving.failing_versions["2"] = "container build failed: no matching distribution"
    client.serving_endpoints.update_config(name="ep", served_entities=[entity("2")])
    with pytest.raises(Exception, match="UPDATE_FAILED"):
        client.serving_endpoints.wait_get_serving_endpoint_not_updating("ep")
    after = client.serving_endpoints.get("ep")
    assert after.config.served_entities[0].entity_version == "1"
    answer = client.serving_endpoints.query("ep", dataframe_records=[{"trip_distance": 2.0}])
    assert answer.predictions == [7.5]


def test_requests_are_recorded_without_the_token(workspace):
    WorkspaceClient().current_user.me()
    assert workspace.requests[-1].path == "/api/2.0/preview/scim/v2/Me"
    assert all(workspace.token.encode() not in r.raw for r in workspace.requests)
