"""Which process runs which Dagster run, so that a run whose process was killed (SIGKILL, OOM, a
closed laptop lid) is marked failed the next time the instance is used, instead of staying STARTED
forever. `dagster dev`'s daemon has run monitoring for runs it launched (enabled in ./dagster.yaml);
this covers `dagster asset materialize`, `fare-assets replay` and tests, which run in-process.
"""

from __future__ import annotations

import os
from pathlib import Path

from fare_assets.settings import Settings


def _folder(settings: Settings) -> Path:
    return settings.dagster_home / "run_processes"


def record_run_process(settings: Settings, run_id: str) -> None:
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / run_id).write_text(f"{os.getpid()} {_start_time(os.getpid())}")


def fail_orphaned_runs(instance, settings: Settings) -> list[str]:
    """Mark failed every STARTED run whose recorded process is gone; forget finished runs."""
    from dagster import DagsterRunStatus

    failed = []
    folder = _folder(settings)
    for record in folder.iterdir() if folder.is_dir() else []:
        run = instance.get_run_by_id(record.name)
        if run is not None and run.status == DagsterRunStatus.STARTED:
            pid, started = record.read_text().split()
            if _start_time(int(pid)) == started:
                continue  # still running
            instance.report_run_failed(run, message=(
                f"the process that ran this run (pid {pid}) died without finishing it (killed?); its "
                "tasks were killed with it"))
            failed.append(run.run_id)
        record.unlink(missing_ok=True)
    return failed


def _start_time(pid: int) -> str:
    """The process's start time, so that a reused pid is not taken for the run's process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return "gone"
    except OSError:  # no /proc (macOS): alive or not is all we can tell
        try:
            os.kill(pid, 0)
            return "alive"
        except OSError:
            return "gone"
