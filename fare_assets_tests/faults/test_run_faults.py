"""Faults in a run: a Dagster run killed with SIGKILL or interrupted with SIGINT while a task runs,
two batch runs at once. After each: the Champion and the tables are unchanged or changed exactly as
Dagster recorded, every trip is present once, and a rerun succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from fare_assets_tests.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[2]


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is `pid`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            if proc.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_run(pipeline: Pipeline, *assets: str) -> subprocess.Popen:
    """A Dagster run of `assets` in a process of its own, on the pipeline's home and instance."""
    script = (f"from fare_assets_tests.pipeline import Pipeline\n"
              f"Pipeline.from_env({pipeline.env!r}).materialize(*{assets!r}, raise_on_error=False)\n")
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_during(run: subprocess.Popen, task: str, sig: int) -> int:
    """Send `sig` to the run once `task`'s process has started; return the task's pid."""
    [(task_pid, _)] = wait_for(lambda: [c for c in children(run.pid) if f"fare_assets.tasks.{task}" in c[1]],
                               120, f"the {task} task to start")
    time.sleep(0.5)  # inside the task: imports done or under way
    os.kill(run.pid, sig)
    return task_pid


@pytest.fixture(scope="module")
def featurized(tmp_path_factory) -> Pipeline:
    pipeline = Pipeline(tmp_path_factory.mktemp("faults_home"), train_start="2016-01-01", train_end="2016-01-15")
    pipeline.materialize("feature_table")
    return pipeline


def test_a_run_killed_during_training_kills_its_task_registers_nothing_and_is_marked_failed(featurized):
    run = start_run(featurized, "model_version")
    task_pid = kill_during(run, "train_model", signal.SIGKILL)
    run.wait(timeout=30)
    wait_for(lambda: not alive(task_pid), 5, "the orphaned train_model task to die with its run")
    assert featurized.registry.client().search_model_versions(
        f"name = '{featurized.settings.registered_model_name}'") == []
    # Nothing could record the killed run's end ...
    [killed] = [r for r in featurized.instance.get_runs() if r.status == DagsterRunStatus.STARTED]

    featurized.materialize("model_version")  # ... until the instance is used again
    assert featurized.instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.FAILURE
    assert featurized.alias("Challenger") == 1


def test_a_run_interrupted_during_scoring_stops_its_task_and_a_rerun_scores_each_trip_once(trained_pipeline):
    pipeline = trained_pipeline
    rows_before, watermark_before = pipeline.store.count("predictions") or 0, pipeline.watermark()
    run = start_run(pipeline, "predictions")
    task_pid = kill_during(run, "score_batch", signal.SIGINT)
    assert run.wait(timeout=60) is not None
    wait_for(lambda: not alive(task_pid), 30, "the interrupted score_batch task to stop")
    assert pipeline.watermark() in (watermark_before, watermark_before + pipeline.settings.batch_window)

    pipeline.materialize("predictions")
    table = pipeline.store.read("predictions", columns=["trip_id"])
    assert table["trip_id"].is_unique and len(table) > rows_before
    windows = pipeline.store.read("predictions_watermarks", columns=["window_start"])
    assert windows["window_start"].is_unique


def test_two_batch_runs_at_once_score_each_trip_once_with_one_watermark_row_per_window(trained_pipeline):
    pipeline = trained_pipeline
    runs = [start_run(pipeline, "predictions") for _ in range(2)]
    assert [r.wait(timeout=180) for r in runs] == [0, 0]
    table = pipeline.store.read("predictions", columns=["trip_id"])
    windows = pipeline.store.read("predictions_watermarks", columns=["window_start"])
    assert table["trip_id"].is_unique
    assert windows["window_start"].is_unique


# --- every task, both signals (`uv run pytest fare_assets_tests/faults -m exhaustive`, ~3 min) -------------

TASK_OF = {"feature_table": "build_features", "model_version": "train_model", "training_baseline": "compute_baseline",
           "champion_alias": "promote_champion", "serving_endpoint": "deploy_endpoint", "predictions": "score_batch",
           "model_monitoring": "monitor_drift"}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Pipeline:
    pipeline = Pipeline(tmp_path_factory.mktemp("fault_matrix_home"), train_start="2016-01-01", train_end="2016-01-15")
    pipeline.materialize(*TASK_OF)
    yield pipeline
    pipeline.stop_endpoint()


def assert_consistent(pipeline: Pipeline, champion_before: int) -> None:
    """The Champion moved only if Dagster recorded it; the endpoint serves the Champion; every table
    reads; every trip and every scored window is there once."""
    recorded = pipeline.latest_metadata("champion_alias")["champion_version"]
    assert pipeline.alias("Champion") in (champion_before, recorded)
    served = pipeline.endpoint().status()
    assert served is not None and served["healthy"] and served["version"] in (champion_before, recorded)
    for table in ("feature_table", "training_baseline", "predictions", "predictions_watermarks", "model_monitoring"):
        assert pipeline.store.read(table) is not None, table
    assert pipeline.store.read("predictions", columns=["trip_id"])["trip_id"].is_unique
    assert pipeline.store.read("predictions_watermarks", columns=["window_start"])["window_start"].is_unique


@pytest.mark.exhaustive
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("asset", list(TASK_OF))
def test_a_run_stopped_in_any_task_leaves_a_consistent_deployment_and_a_rerun_succeeds(deployed, asset, sig):
    champion_before = deployed.alias("Champion")
    run = start_run(deployed, asset)
    task_pid = kill_during(run, TASK_OF[asset], sig)
    run.wait(timeout=60)
    wait_for(lambda: not alive(task_pid), 30, f"the {TASK_OF[asset]} task to stop with its run")
    assert_consistent(deployed, champion_before)
    deployed.materialize(asset)
    assert_consistent(deployed, champion_before)
    assert not [r for r in deployed.instance.get_runs() if r.status == DagsterRunStatus.STARTED]
