"""What a user sees of a run in the Dagster UI: each task's stages as log lines while it runs (sent
through Pipes), and Dagster's standard row count and column schema on every Delta asset."""

from __future__ import annotations

from collections import defaultdict

import pytest

STAGES = {
    "feature_table": ["reading synthetic for the training window", "clean trips", "wrote "],
    "model_version": ["training on ", "search trial 1/", "registered main.ml_serving.fare_predictor version"],
    "training_baseline": ["profiling ", "baseline of version"],
    "champion_alias": ["judging Challenger v", "Champion is v"],
    "serving_endpoint": ["deploying ", "verified by a test prediction"],
    "predictions": ["scoring ", "trips scored"],
    "model_monitoring": ["judging ", "no rule fired"],
}
DELTA_ASSETS = ("feature_table", "training_baseline", "predictions", "model_monitoring")


def log_lines_by_step(instance) -> dict[str, list[str]]:
    lines = defaultdict(list)
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            if entry.dagster_event is None and entry.step_key:
                lines[entry.step_key].append(entry.user_message)
    return lines


@pytest.fixture(scope="module")
def pipeline(trained_pipeline):
    """The trained deployment, with every other asset materialized once too."""
    from fare_assets.resources.spare_interpreters import SPARES

    trained_pipeline.materialize("serving_endpoint", "predictions", "model_monitoring")
    trained_pipeline.spare_left_by_last_run = SPARES.waiting
    return trained_pipeline


def test_every_task_reports_its_stages_and_every_delta_asset_its_rows_and_columns(pipeline):

    lines = log_lines_by_step(pipeline.instance)
    for step, stages in STAGES.items():
        for stage in stages:
            assert any(stage in line for line in lines[step]), f"{step} never logged {stage!r}: {lines[step]}"

    for asset in DELTA_ASSETS:
        metadata = pipeline.latest_metadata(asset)
        assert metadata["dagster/row_count"] == pipeline.store.count(asset) > 0
        columns = [c.name for c in metadata["dagster/column_schema"].columns]
        assert columns == list(pipeline.store.read(asset).columns)


def test_links_open_pages_and_numbers_are_rounded(pipeline):
    monitoring, endpoint = pipeline.latest_metadata("model_monitoring"), pipeline.latest_metadata("serving_endpoint")
    assert monitoring["mlflow_run"].startswith("http://127.0.0.1:5000/#/experiments/")
    assert endpoint["endpoint_page"].endswith("/serving-endpoints/ml_serving_fare_predictor_endpoint")
    assert endpoint["invocation_url"] == endpoint["endpoint_page"] + "/invocations"
    mae = monitoring["mae"]
    assert isinstance(mae, float) and round(mae, 4) == mae


def test_a_runs_later_tasks_start_in_interpreters_that_made_their_imports_while_the_one_before_worked(pipeline):
    """Each local task is a fresh interpreter; once a run has started one, the next is already
    importing, and the run's last task leaves none behind."""
    for run in pipeline.instance.get_runs():
        timings = [entry.user_message for entry in pipeline.instance.all_logs(run.run_id)
                   if entry.dagster_event is None and "task timing:" in entry.user_message]
        if run.job_name == "adhoc" and len(timings) > 1:
            assert "spare interpreter" not in timings[0]
            assert all("in a spare interpreter" in line for line in timings[1:]), timings
    assert pipeline.spare_left_by_last_run is None
