"""Open the Pipes session a task reports through, wherever the task runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster_pipes import PipesContext, open_dagster_pipes

from fare_assets.settings import Settings


@contextmanager
def open_task_pipes() -> Iterator[PipesContext]:
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        from fare_assets.databricks.pipes import open_databricks_pipes

        with open_databricks_pipes() as context:
            yield context
    else:
        from fare_assets.tasks.lifeline import die_with_parent

        die_with_parent()
        with open_dagster_pipes() as context:
            yield context


def task_settings(context: PipesContext) -> Settings:
    """The Dagster side's settings, rebuilt from the FARE_ASSETS_* values it sent."""
    return Settings.from_env(context.extras["settings"])


def param(context: PipesContext, name: str, default=None):
    return context.extras.get("params", {}).get(name, default)
