"""Run a task module through Dagster Pipes: a local subprocess, or a Databricks serverless run."""

from __future__ import annotations

import os
import signal
from typing import Any

from dagster import (
    AssetExecutionContext, ConfigurableResource, DagsterEventType, MaterializeResult, PipesClientCompletedInvocation,
    PipesTempFileContextInjector, open_pipes_session,
)
from dagster._core.errors import DagsterExecutionInterruptedError, DagsterPipesExecutionError

from fare_assets.home import check_home
from fare_assets.resources.pipes_messages import WholeLineMessageReader
from fare_assets.resources.spare_interpreters import SPARES
from fare_assets.run_records import fail_orphaned_runs, record_run_process
from fare_assets.tasks.lifeline import PARENT_PID_ENV
from fare_assets.settings import Settings

TERMINATION_TIMEOUT_SECONDS = 20  # PipesSubprocessClient's default


class TaskFailed(Exception):
    """A task failed; the message is the task's own error, not only its exit code."""

    def __init__(self, task: str, reason: str):
        super().__init__(f"task {task} failed: {reason}")


def task_exception(context: AssetExecutionContext) -> str | None:
    """The exception a task reported through Pipes before exiting ("Type: message")."""
    records = context.instance.all_logs(context.run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
    for record in reversed(records):
        event = record.dagster_event
        error = event.engine_event_data.error if event and event.engine_event_data else None
        if error and event.step_key == context.op_execution_context.node_handle.name:
            return error.message.strip()
    return None


class TaskRunner(ConfigurableResource):
    """The settings every task receives, and how a task is launched; subclasses pick the target."""

    settings_env: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.settings_env)

    def extras(self, params: dict[str, Any] | None) -> dict[str, Any]:
        return {"settings": dict(self.settings_env), "params": params or {}}

    def run(self, context: AssetExecutionContext, task: str, params: dict[str, Any] | None = None) -> MaterializeResult:
        """Run `fare_assets.tasks.<task>`, after checking that the home holds this data and failing
        the runs that a killed process left STARTED."""
        check_home(self.settings, claim=True)
        fail_orphaned_runs(context.instance, self.settings)
        record_run_process(self.settings, context.run.run_id)
        return self.launch(context, f"tasks.{task}", params)

    def launch(self, context: AssetExecutionContext, module: str, params: dict[str, Any] | None) -> MaterializeResult:
        raise NotImplementedError


class LocalTaskRunner(TaskRunner):
    """`python -m fare_assets.<module>` in a subprocess of the Dagster run's interpreter: what
    `PipesSubprocessClient.run` does, except that the process may be a spare interpreter that made
    its imports while the previous task worked (`spare_interpreters`)."""

    def launch(self, context, module, params=None):
        task = module.rsplit(".", 1)[-1]
        try:
            with open_pipes_session(context=context, context_injector=PipesTempFileContextInjector(),
                                    message_reader=WholeLineMessageReader(), extras=self.extras(params)) as session:
                env = {PARENT_PID_ENV: str(os.getpid()), **session.get_bootstrap_env_vars()}
                process = SPARES.launch(f"fare_assets.{module}", env)
                if tasks_follow(context):
                    SPARES.start_spare()
                try:
                    if process.wait() != 0:
                        raise DagsterPipesExecutionError(
                            f"External execution process failed with code {process.returncode}")
                except DagsterExecutionInterruptedError:
                    # As PipesSubprocessClient: a chance to stop cleanly, then the interruption goes on.
                    context.log.info("[pipes] execution interrupted, sending SIGINT to subprocess.")
                    process.send_signal(signal.SIGINT)
                    process.wait(timeout=TERMINATION_TIMEOUT_SECONDS)
                    raise
        except DagsterPipesExecutionError as error:
            # Raised inside the session, reported after it: by then every message the task sent is read.
            raise TaskFailed(task, task_exception(context) or str(error)) from error
        return PipesClientCompletedInvocation(session).get_materialize_result()


def tasks_follow(context: AssetExecutionContext) -> bool:
    """Whether another task will start in this process after this one: a step of this run that has
    not started yet (the in-process executor runs them one after another, each launching a task),
    or the next run of a replay."""
    run = context.run
    steps = run.step_keys_to_execute or [node.name for node in context.job_def.nodes_in_topological_order]
    started = SPARES.steps_started(run.run_id, context.op_execution_context.node_handle.name)
    return SPARES.runs_follow or any(step not in started for step in steps)
