"""Run a task module through Dagster Pipes: a local subprocess, or a Databricks serverless run."""

from __future__ import annotations

import sys
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource, MaterializeResult, PipesSubprocessClient

from fare_assets.settings import Settings


class TaskRunner(ConfigurableResource):
    """The settings every task receives, and how a task is launched; subclasses pick the target."""

    settings_env: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.settings_env)

    def extras(self, params: dict[str, Any] | None) -> dict[str, Any]:
        return {"settings": dict(self.settings_env), "params": params or {}}

    def run(self, context: AssetExecutionContext, task: str, params: dict[str, Any] | None = None) -> MaterializeResult:
        raise NotImplementedError


class LocalTaskRunner(TaskRunner):
    """`python -m fare_assets.tasks.<task>` in a subprocess of the Dagster run's interpreter."""

    def run(self, context, task, params=None):
        invocation = PipesSubprocessClient().run(
            command=[sys.executable, "-m", f"fare_assets.tasks.{task}"],
            context=context,
            extras=self.extras(params),
        )
        return invocation.get_materialize_result()
