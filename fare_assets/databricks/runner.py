"""Run a task module on Databricks serverless compute through Dagster Pipes.

Each run: the task wheel is uploaded to `<volume>/wheels/` only if a wheel with the same
content hash is not there yet, the entry script is imported into the user's workspace
folder once per content, and a one-task run is submitted with a serverless environment
that installs the wheel and the pinned packages. Auth is the databricks-sdk unified
configuration (environment or profile), never a value of ours.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass, replace
from hashlib import sha256
from pathlib import Path

from dagster import DagsterExecutionInterruptedError
from dagster._core.errors import DagsterPipesExecutionError
from dagster_databricks.pipes import PipesDatabricksServerlessClient, PipesUnityCatalogVolumesMessageReader
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service import jobs
from databricks.sdk.service.compute import Environment
from databricks.sdk.service.workspace import ImportFormat

from fare_assets.databricks.dependencies import job_dependencies
from fare_assets.databricks.environment import DEFAULT_ENVIRONMENT_VERSION, ServerlessEnvironment, environment
from fare_assets.databricks.wheel import TaskWheel, build_task_wheel
from fare_assets.resources.task_runner import TaskFailed, TaskRunner, task_exception
from fare_assets.settings import Settings

ENVIRONMENT_KEY = "fare_assets"
ENTRY_SOURCE = Path(__file__).with_name("entry.py")


@dataclass(frozen=True)
class Deployment:
    wheel_path: str
    entry_path: str
    uploaded_wheel: bool


_deployed: dict[tuple[str, str, str], Deployment] = {}
_deploy_lock = threading.Lock()


def deploy_task_code(client: WorkspaceClient, volume: str, wheel: TaskWheel | None = None) -> Deployment:
    """Make the current task code runnable in the workspace; idempotent and cached per process."""
    wheel = wheel or build_task_wheel()
    entry = ENTRY_SOURCE.read_bytes()
    key = (client.config.host, volume, wheel.digest)
    with _deploy_lock:
        if key in _deployed:
            return replace(_deployed[key], uploaded_wheel=False)  # uploaded by an earlier step, if at all
        wheel_path = f"{volume}/wheels/{wheel.filename}"
        uploaded = not _file_exists(client, wheel_path)
        if uploaded:
            client.files.upload(wheel_path, io.BytesIO(wheel.content), overwrite=True)
        _deployed[key] = Deployment(wheel_path, _import_entry(client, entry), uploaded)
        return _deployed[key]


def _file_exists(client: WorkspaceClient, path: str) -> bool:
    try:
        client.files.get_metadata(path)
        return True
    except NotFound:
        return False


def _import_entry(client: WorkspaceClient, source: bytes) -> str:
    folder = f"/Users/{client.current_user.me().user_name}/.fare_assets"
    path = f"{folder}/entry_{sha256(source).hexdigest()[:12]}.py"
    try:
        client.workspace.get_status(path)
    except NotFound:
        client.workspace.mkdirs(folder)
        client.workspace.import_(path, content=base64.b64encode(source).decode(), format=ImportFormat.AUTO,
                                 overwrite=True)
    return path


def chosen_environment(settings: Settings) -> ServerlessEnvironment:
    """The serverless environment version the settings name (default: the newest documented one)."""
    return environment(settings.databricks_environment or DEFAULT_ENVIRONMENT_VERSION)


def serverless_environment(wheel_path: str, env: ServerlessEnvironment, pins: list[str]) -> jobs.JobEnvironment:
    """The job environment: `env`'s base image plus the task wheel and `pins` (from job_dependencies)."""
    # `environment_version` replaces the deprecated `client` (databricks-sdk 0.60 compute.Environment).
    spec = Environment(environment_version=env.version, dependencies=[wheel_path, *pins])
    return jobs.JobEnvironment(environment_key=ENVIRONMENT_KEY, spec=spec)


def task_spec(module: str, entry_path: str) -> jobs.SubmitTask:
    return jobs.SubmitTask(
        task_key=module.rsplit(".", 1)[-1], environment_key=ENVIRONMENT_KEY,
        spark_python_task=jobs.SparkPythonTask(python_file=entry_path, parameters=[module]),
    )


class _CancellingServerlessClient(PipesDatabricksServerlessClient):
    """Remembers an interruption: the base client cancels the Databricks run, then swallows it."""

    interrupted_run_id: int | None = None

    def _poll_til_success(self, context, run_id: int) -> None:
        try:
            super()._poll_til_success(context, run_id)
        except DagsterExecutionInterruptedError:
            self.interrupted_run_id = run_id
            raise


class DatabricksTaskRunner(TaskRunner):
    """`fare_assets.tasks.<task>` as a Databricks serverless run of the entry script."""

    poll_interval_seconds: float = 5.0
    message_interval_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs) -> DatabricksTaskRunner:
        return cls(settings_env=settings.to_env(), **kwargs)

    def launch(self, context, module: str, params=None):
        """Run `fare_assets.<module>` (a Pipes entry point) as a Databricks serverless run."""
        settings = self.settings
        env = chosen_environment(settings)
        pins = job_dependencies(env)  # a conflict with the base image fails before any Databricks call
        client = WorkspaceClient()
        deployment = deploy_task_code(client, settings.volume)
        context.log.info(f"task code {deployment.wheel_path} ({'uploaded' if deployment.uploaded_wheel else 'unchanged'})")
        pipes_volume = f"{settings.volume}/pipes"
        pipes = _CancellingServerlessClient(
            client=client, volume_path=pipes_volume, poll_interval_seconds=self.poll_interval_seconds,
            message_reader=PipesUnityCatalogVolumesMessageReader(
                client=client, volume_path=pipes_volume, interval=self.message_interval_seconds,
                # Task stdout/stderr stay in the Databricks run's driver logs (the run page is linked).
                # Forwarding them costs each run seconds of tee draining at exit, and dagster-pipes
                # sends their last chunk after the session closed, so Dagster drops it anyway.
                include_stdio_in_messages=False),
        )
        try:
            invocation = pipes.run(
                context=context, extras=self.extras(params), task=task_spec(module, deployment.entry_path),
                submit_args={"environments": [serverless_environment(deployment.wheel_path, env, pins)],
                             "run_name": f"fare_assets.{module} (dagster run {context.run.run_id[:8]})"},
            )
        except DagsterPipesExecutionError as error:
            raise TaskFailed(module, task_exception(context) or str(error)) from error
        if pipes.interrupted_run_id is not None:
            raise DagsterExecutionInterruptedError(f"interrupted: Databricks run {pipes.interrupted_run_id} was cancelled")
        return invocation.get_materialize_result()
