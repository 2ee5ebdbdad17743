"""The Databricks task runner: task code shipped as a wheel, one serverless run per task, Pipes via volumes."""

import _thread
import threading
import time

import pytest
from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

from fare_assets.databricks.runner import DatabricksTaskRunner
from fare_assets.databricks.dependencies import EnvironmentConflict, job_dependencies
from fare_assets.databricks.environment import DEFAULT_ENVIRONMENT_VERSION, ENVIRONMENTS
from fare_assets.databricks.wheel import build_task_wheel
from fare_assets.settings import Settings

VOLUME = "/Volumes/main/ml_serving/fare_assets"


def runner(tmp_path) -> DatabricksTaskRunner:
    settings = Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": VOLUME,
                                  "FARE_ASSETS_HOME": str(tmp_path / "home")})
    return DatabricksTaskRunner.from_settings(settings, poll_interval_seconds=0.1, message_interval_seconds=0.1)


@asset(config_schema={"sleep_seconds": float})
def probe(context: AssetExecutionContext, task_runner: DatabricksTaskRunner):
    sleep_seconds = context.op_execution_context.op_config["sleep_seconds"]
    return task_runner.launch(context, "databricks.probe", {"echo": 42, "sleep_seconds": sleep_seconds})


def run_probe(tmp_path, sleep_seconds: float = 0.0, **kwargs):
    return materialize([probe], resources={"task_runner": runner(tmp_path)}, instance=DagsterInstance.ephemeral(),
                       run_config={"ops": {"probe": {"config": {"sleep_seconds": sleep_seconds}}}}, **kwargs)


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """One probe run on a fake workspace, which the tests below read from different sides: the
    run's metadata, the requests it made, the events it logged and what it left on the volume."""
    from fare_assets_tests.databricks.conftest import clear_databricks_env
    from fare_assets_tests.databricks.fake_workspace import FakeWorkspace

    folder = tmp_path_factory.mktemp("probed")
    with pytest.MonkeyPatch.context() as patch:
        clear_databricks_env(patch, folder)
        with FakeWorkspace(folder / "workspace") as fake:
            patch.setenv("DATABRICKS_HOST", fake.host)
            patch.setenv("DATABRICKS_TOKEN", fake.token)
            yield fake, run_probe(folder)


def materialization_metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_task_runs_from_the_uploaded_wheel_with_the_pinned_packages(probed):
    workspace, result = probed
    metadata = materialization_metadata(result)
    [wheel_upload] = [r for r in workspace.requests_to("PUT", "/api/2.0/fs/files") if "/wheels/" in r.path]
    # Installed from the uploaded wheel (the fake unpacks it, as pip does), not from this checkout.
    wheel_name = wheel_upload.path.rsplit("/", 1)[1].removesuffix(".whl")
    assert metadata["task_code"].endswith(f"/wheels/.installed/{wheel_name}/fare_assets/__init__.py")
    assert all(metadata[f"version_{p.split('==')[0]}"] == p.split("==")[1] for p in pins())
    assert metadata["echo"]["echo"] == 42
    assert metadata["Databricks Job Run ID"]


def test_the_run_request_is_a_serverless_python_task_with_the_pinned_environment(probed):
    workspace, _ = probed
    [submit] = workspace.requests_to("POST", "/api/2.2/jobs/runs/submit")
    [task] = submit.body["tasks"]
    assert set(task) == {"task_key", "environment_key", "spark_python_task"}
    assert task["environment_key"] == "fare_assets"
    assert task["spark_python_task"]["python_file"].startswith("/Users/someone@example.com/.fare_assets/entry_")
    module, *pipes_args = task["spark_python_task"]["parameters"]
    assert module == "databricks.probe"
    assert pipes_args[0::2] == ["--dagster-pipes-context", "--dagster-pipes-messages"]
    [environment] = submit.body["environments"]
    spec = dict(environment["spec"])
    wheel, *pinned = spec.pop("dependencies")
    assert {**environment, "spec": spec} == {"environment_key": "fare_assets",
                                             "spec": {"environment_version": DEFAULT_ENVIRONMENT_VERSION}}
    assert wheel.startswith(f"{VOLUME}/wheels/fare_assets-0.1.0+g") and wheel.endswith("-py3-none-any.whl")
    assert pinned == pins()


def pins() -> list[str]:
    return job_dependencies(ENVIRONMENTS[DEFAULT_ENVIRONMENT_VERSION])


def test_the_environment_installs_only_what_the_base_lacks_at_the_versions_uv_lock_resolved():
    pinned = dict(p.split("==") for p in pins())
    assert "dagster-pipes" in pinned and not {"pandas", "numpy", "pyarrow", "deltalake"} & set(pinned)
    lock = (build_task_wheel.__globals__["PACKAGE_DIR"].parent / "uv.lock").read_text()
    for name, version in pinned.items():
        assert f'name = "{name}"\nversion = "{version}"' in lock


def test_an_environment_whose_base_would_be_replaced_across_a_major_version_fails_before_any_call():
    # Environment 2 ships pandas 1.5.3 and mlflow-skinny 2.11.4: our pandas 2 and mlflow 3 do not fit.
    with pytest.raises(EnvironmentConflict, match=r"pandas: we need .*environment 2 ships 1\.5\.3") as caught:
        job_dependencies(ENVIRONMENTS["2"])
    assert "mlflow: ours is 3." in str(caught.value)


def test_the_wheel_is_uploaded_only_when_its_content_changes(workspace, tmp_path):
    import shutil

    from databricks.sdk import WorkspaceClient

    from fare_assets.databricks import runner as runner_module
    from fare_assets.databricks.wheel import PACKAGE_DIR

    package = shutil.copytree(PACKAGE_DIR, tmp_path / "fare_assets", ignore=shutil.ignore_patterns("__pycache__"))
    client = WorkspaceClient()
    first = runner_module.deploy_task_code(client, VOLUME, build_task_wheel(package))
    runner_module._deployed.clear()  # a new Dagster process: only the volume remembers
    again = runner_module.deploy_task_code(client, VOLUME, build_task_wheel(package))
    (package / "ml" / "features.py").write_text((package / "ml" / "features.py").read_text() + "\n# changed\n")
    changed = runner_module.deploy_task_code(client, VOLUME, build_task_wheel(package))
    assert (first.uploaded_wheel, again.uploaded_wheel, changed.uploaded_wheel) == (True, False, True)
    assert first.wheel_path == again.wheel_path != changed.wheel_path
    assert build_task_wheel(package).content == build_task_wheel(package).content  # reproducible bytes
    uploads = [r for r in workspace.requests_to("PUT", "/api/2.0/fs/files") if "/wheels/" in r.path]
    assert len(uploads) == 2


def test_no_secret_reaches_a_request_body_or_the_run(probed):
    workspace, result = probed
    assert all(workspace.token.encode() not in r.raw for r in workspace.requests)
    logged = " ".join(str(e) for e in result.all_events)
    assert workspace.token not in logged


def test_pipes_temp_folders_are_removed_from_the_volume(probed):
    workspace, _ = probed
    pipes_tmp = workspace.local_path(f"{VOLUME}/pipes/tmp")
    assert not pipes_tmp.exists() or not any(pipes_tmp.iterdir())


@pytest.fixture
def prompt_end_of_messages(monkeypatch):
    """A run that ends without closing Pipes (cancelled, crashed) makes Dagster's message reader wait
    10 s for messages that may still be on their way through cloud storage
    (dagster/_core/pipes/utils.py WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL); the fake's volume is a
    local folder, where they never lag."""
    import dagster._core.pipes.utils as pipes_utils

    monkeypatch.setattr(pipes_utils, "WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL", 1)


@pytest.mark.slow
@pytest.mark.usefixtures("prompt_end_of_messages")
def test_interrupting_the_asset_cancels_the_databricks_run(workspace, tmp_path):
    def interrupt_when_running():
        deadline = time.time() + 60
        while time.time() < deadline:
            if any(run.life_cycle_state == "RUNNING" for run in workspace.jobs.runs.values()):
                time.sleep(0.3)
                _thread.interrupt_main()
                return
            time.sleep(0.05)

    threading.Thread(target=interrupt_when_running, daemon=True).start()
    result = run_probe(tmp_path, sleep_seconds=60.0, raise_on_error=False)
    assert not result.success
    [run] = workspace.jobs.runs.values()
    assert run.result_state == "CANCELED"
    assert workspace.requests_to("POST", "/api/2.2/jobs/runs/cancel")
    assert "Databricks run" in str(result.all_events)


@pytest.mark.slow
@pytest.mark.usefixtures("prompt_end_of_messages")
def test_a_failing_task_fails_the_asset_with_the_task_error(workspace, tmp_path):
    @asset
    def broken(context: AssetExecutionContext, task_runner: DatabricksTaskRunner):
        return task_runner.launch(context, "databricks.no_such_module")

    result = materialize([broken], resources={"task_runner": runner(tmp_path)}, instance=DagsterInstance.ephemeral(),
                         raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "databricks.no_such_module failed" in str(failure.event_specific_data.error)
    assert "No module named fare_assets.databricks.no_such_module" in str(failure.event_specific_data.error)


def test_the_wheel_carries_the_module_that_registered_models_name():
    """Models pickle fare_meter.MeteredFareRegressor; a task that scores or promotes loads it from the
    wheel (the fake's editable install would hide its absence, so the archive is checked)."""
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(build_task_wheel().content)).namelist()
    assert "fare_meter.py" in names and "fare_assets/ml/training.py" in names
