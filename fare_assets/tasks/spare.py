"""A pre-started task interpreter: `python -m fare_assets.tasks.spare`.

A local task spends most of its start-up importing pandas, deltalake, scikit-learn, scipy and
mlflow (about 1 s each task here, more without .pyc files). While one task works, the Dagster side
starts this spare (`fare_assets.resources.spare_interpreters`): it makes those imports and waits
for one line on stdin, the task to run and its Pipes variables, then runs that task exactly as
`python -m fare_assets.tasks.<task>` would, under that command line (as `ps` shows it).

Only third-party packages (and the lifeline below) are imported ahead: the task's own code is
imported when it is handed over, so a task never runs code older than its hand-over. A spare that is never handed a task ends
when its parent closes the pipe or dies.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import select
import sys

# What the tasks import between them (see each task module and fare_assets.ml), in dependency
# order. scipy.stats alone is 0.7 s: scikit-learn imports it anyway, and monitor_drift's KS test.
PRELOAD = (
    "numpy", "pandas", "pyarrow", "pyarrow.dataset", "deltalake", "scipy.stats", "sklearn.ensemble",
    "sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing", "mlflow", "mlflow.sklearn",
    "mlflow.tracking", "dagster_pipes",
)
READY = "(imports made, waiting for a task)"  # in its command line, as `ps` shows it
# When the Dagster side handed the task over (epoch seconds): its start-up is counted from here,
# not from when the spare started (fare_assets.tasks.pipes).
HANDED_OVER_ENV = "FARE_ASSETS_TASK_HANDED_OVER"


def preload(stream=None) -> bool:
    """Import PRELOAD, stopping early once `stream` has something to read: a task handed over before
    the imports are done starts at once and makes the rest of its imports itself. True when done."""
    for module in PRELOAD:
        if stream is not None and select.select([stream], [], [], 0)[0]:
            return False
        try:
            importlib.import_module(module)
        except Exception:  # the task imports it again, and reports the error as its own
            pass
    return True


def read_order(stream) -> dict | None:
    """What to run, `{"module": "fare_assets.tasks.<task>", "env": {...}}`; None when the parent left."""
    line = stream.readline()
    return json.loads(line) if line.strip() else None


def run_order(order: dict) -> None:
    module = order["module"]
    os.environ.update(order.get("env", {}))
    from setproctitle import setproctitle

    # The command line this task would have had without a spare: the fault tests, `ps` and
    # anyone looking for a task find it by this.
    setproctitle(f"{sys.executable} -m {module}")
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def main() -> None:
    from fare_assets.tasks.lifeline import die_with_parent

    die_with_parent()
    if preload(sys.stdin):
        from setproctitle import setproctitle

        setproctitle(f"{sys.executable} -m {__spec__.name} {READY}")
    order = read_order(sys.stdin)
    if order is None:
        os._exit(0)
    sys.stdin.close()
    sys.stdin = open(os.devnull)  # the hand-over pipe is not the task's input
    run_order(order)


if __name__ == "__main__":
    main()
