"""Open the Pipes session a task reports through, wherever the task runs."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dagster_pipes import PipesContext, open_dagster_pipes

from fare_assets.settings import Settings
from fare_assets.tasks.spare import HANDED_OVER_ENV


@contextmanager
def open_task_pipes() -> Iterator[PipesContext]:
    """The task's Pipes session; at the end it logs where the task's seconds went (start-up, that is
    interpreter and module imports, or in a spare interpreter the time since its hand-over, vs the
    work, which includes imports made on first use)."""
    ready = time.time()
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        from fare_assets.databricks.pipes import open_databricks_pipes

        opened = open_databricks_pipes()
    else:
        from fare_assets.tasks.lifeline import die_with_parent

        die_with_parent()
        opened = open_dagster_pipes()
    with opened as context:
        yield context
        handed_over = os.environ.get(HANDED_OVER_ENV)
        started = float(handed_over) if handed_over else process_start_time()
        timing = (f"task timing: start-up {ready - started:.2f} s, work {time.time() - ready:.2f} s"
                  if started else f"task timing: work {time.time() - ready:.2f} s")
        context.log.info(timing + (" (in a spare interpreter, from its hand-over)" if handed_over else ""))


def process_start_time() -> float | None:
    """When this process started (epoch seconds), from /proc; None where there is no /proc."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_after_boot = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
            age = float(uptime.read().split()[0]) - started_after_boot
        return time.time() - age
    except (OSError, ValueError):
        return None


def run_task(main: Callable[[], None]) -> None:
    """A task's `__main__`: run it, then, as a local Pipes subprocess, leave without interpreter
    teardown. Everything is committed and reported by then, and tearing down mlflow, pandas and
    scikit-learn costs about 0.9 s per task here (0.03 s without). On Databricks the runtime owns
    the process, so it ends normally. A failing task raises as usual (exit code 1)."""
    main()
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def task_settings(context: PipesContext) -> Settings:
    """The Dagster side's settings, rebuilt from the FARE_ASSETS_* values it sent."""
    return Settings.from_env(context.extras["settings"])


def param(context: PipesContext, name: str, default=None):
    return context.extras.get("params", {}).get(name, default)
