"""champion_alias through real Pipes subprocesses and a real MLflow registry."""

import shutil
from pathlib import Path

import pytest

from fare_assets_tests.pipeline import Pipeline


def test_first_training_promotes_the_challenger_because_there_is_no_champion(trained_pipeline):
    decision = trained_pipeline.latest_metadata("champion_alias")
    assert decision["promoted"] is True and decision["reason"] == "no Champion yet"
    assert trained_pipeline.alias("Champion") == trained_pipeline.alias("Challenger")


def test_model_version_records_a_full_signature_and_search_trials(trained_pipeline):
    meta = trained_pipeline.latest_metadata("model_version")
    run = trained_pipeline.client.get_run(meta["run_id"])
    assert {"holdout_mae", "holdout_rmse", "holdout_r2"} <= set(run.data.metrics)
    children = trained_pipeline.client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{meta['run_id']}'")
    assert len(children) >= 4
    info = trained_pipeline.model_info(meta["version"])
    # The quick start's trips carry zones: the model takes them, as optional fields.
    assert [(c["name"], c["required"]) for c in info.signature.inputs.to_dict()] == [
        ("trip_distance", True), ("pickup_hour", True), ("pickup_dayofweek", True), ("pickup_month", True),
        ("is_weekend", True), ("is_rush_hour", True), ("pickup_location_id", False), ("dropoff_location_id", False)]
    assert info.signature.outputs is not None
    assert "holdout_mae_without_locations" in run.data.metrics and run.data.params["location_features"] == "True"


def window(start: str, end: str) -> dict:
    return {"ops": {"feature_table": {"config": {"train_start": start, "train_end": end}}}}


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    """Version 1 trained on two weeks, then version 2 on the same two weeks and one more day: six-field
    models, whose difference is within noise (a zone model gains from the extra day: its pair
    encodings see more trips, measured -$0.027, 95% CI -0.046..-0.008, and is promoted)."""
    pipeline = Pipeline(tmp_path_factory.mktemp("retrained_home"), train_start="2016-01-01", train_end="2016-01-15",
                        location_features="false")
    pipeline.materialize("feature_table", "model_version", "champion_alias")
    pipeline.materialize("feature_table", "model_version", "champion_alias", run_config=window("2016-01-01", "2016-01-16"))
    return pipeline, pipeline.latest_metadata("champion_alias")


def test_the_same_data_and_code_reuse_the_registered_version_instead_of_a_twin(trained_pipeline):
    pipeline = trained_pipeline
    name = pipeline.settings.registered_model_name
    first = pipeline.latest_metadata("model_version")
    registered = len(pipeline.client.search_model_versions(f"name = '{name}'"))
    pipeline.materialize("feature_table", "model_version")  # the same window again
    again = pipeline.latest_metadata("model_version")
    assert again["reused"] is True and again["version"] == first["version"]
    assert "unchanged since version" in again["reused_because"]
    assert len(pipeline.client.search_model_versions(f"name = '{name}'")) == registered
    assert pipeline.alias("Challenger") == first["version"]


def test_a_challenger_within_noise_keeps_the_champion_and_the_decision_is_recorded(retrained):
    pipeline, decision = retrained
    assert decision["challenger_version"] == 2 and decision["champion_version"] == 1
    assert decision["promoted"] is False
    assert decision["interval_low"] <= 0 <= decision["interval_high"]
    tags = pipeline.client.get_model_version(pipeline.settings.registered_model_name, "2").tags
    assert tags["champion_decision_promote"] == "False"
    assert float(tags["champion_decision_champion_mae"]) > 0
    assert pipeline.alias("Champion") == 1


def test_a_challenger_that_fails_to_load_keeps_the_champion_and_names_the_error(retrained, tmp_path):
    pipeline, _ = retrained
    champion, broken = pipeline.alias("Champion"), pipeline.alias("Challenger")
    assert broken != champion
    artifacts = Path(pipeline.client.get_model_version_download_uri(
        pipeline.settings.registered_model_name, str(broken)).removeprefix("file://"))
    shutil.move(artifacts, tmp_path / "moved_aside")  # put back afterwards: the module's deployment is shared
    try:
        result = pipeline.materialize("champion_alias", raise_on_error=False)
    finally:
        shutil.move(tmp_path / "moved_aside", artifacts)
    assert not result.success
    message = pipeline.failure_message(result)
    assert f"could not load {pipeline.settings.registered_model_name} version {broken}" in message
    assert pipeline.alias("Champion") == champion
    # The broken version stays registered, as Challenger, and is never promoted.
    assert pipeline.alias("Challenger") == broken != pipeline.alias("Champion")


def test_a_champion_kept_through_a_shifts_last_retraining_run_is_then_judged_against_the_new_normal(retrained):
    """After the shift's runs are spent, monitoring compares later windows with the Champion's
    predictions on the window's newest week (trips it never saw), not with the old regime."""
    from fare_assets.automation import SHIFT_RETRAIN_TAG, SHIFT_TAG
    from fare_assets.backends.interfaces import BASELINE_TABLE
    from fare_assets.ml.drift import profile_from_rows
    from fare_assets.status import collect_status, format_status

    pipeline, _ = retrained

    def champion_baseline():  # this module's pipeline never materialized training_baseline
        rows = pipeline.store.read(BASELINE_TABLE, filters=[("model_version", "=", 1)])
        return profile_from_rows(rows) if rows is not None and len(rows) else None

    before = champion_baseline()
    assert before is None
    # The shift's window: two weeks after the Champion's training window (1-15 January).
    pipeline.materialize("feature_table", run_config=window("2016-01-15", "2016-01-29"))
    shift = {SHIFT_TAG: "2016-01-15 00:00:00"}
    pipeline.materialize("champion_alias", tags=shift | {SHIFT_RETRAIN_TAG: "1 of 2"})  # another run may follow
    first = pipeline.latest_metadata("champion_alias")
    assert first["promoted"] is False and "champion_baseline" not in first
    assert champion_baseline() == before

    pipeline.materialize("champion_alias", tags=shift | {SHIFT_RETRAIN_TAG: "2 of 2"})  # the last one
    last = pipeline.latest_metadata("champion_alias")
    trips = pipeline.store.read("feature_table")
    newest_week = trips[trips["tpep_pickup_datetime"] >= "2016-01-22"]
    assert last["promoted"] is False and last["champion_version"] == 1
    assert last["champion_baseline"] == (f"made anew on {len(newest_week):,} trips of 2016-01-22..2016-01-28 "
                                         "(the shift's retraining runs are spent)")
    after = champion_baseline()
    assert after["rows"] == len(newest_week) < len(trips)
    assert after["mae"] == pytest.approx(last["champion_baseline_mae"], abs=1e-4)
    tags = pipeline.client.get_model_version(pipeline.settings.registered_model_name, "1").tags
    assert tags["baseline_remade_on"] == "2016-01-22..2016-01-28"
    assert tags["baseline_remade_after_shift"] == "2016-01-15 00:00:00"
    # `fare-assets status` says what the Champion is judged against.
    status = collect_status(pipeline.settings)
    assert status["champion_baseline"] == "remade on 2016-01-22..2016-01-28, after the shift from 2016-01-15 00:00:00"
    assert ("Champion            1 (monitoring baseline remade on 2016-01-22..2016-01-28, after the shift from "
            "2016-01-15 00:00:00)") in format_status(status)


def test_a_champion_is_not_rebaselined_on_less_than_a_week_it_never_saw(retrained):
    from fare_assets.automation import SHIFT_RETRAIN_TAG

    pipeline, _ = retrained
    pipeline.materialize("feature_table", run_config=window("2016-01-10", "2016-01-19"))  # 4 days after 15 January
    pipeline.materialize("champion_alias", tags={SHIFT_RETRAIN_TAG: "2 of 2"})
    decision = pipeline.latest_metadata("champion_alias")
    assert decision["promoted"] is False
    assert decision["champion_baseline"] == ("kept its baseline: the window holds 4 days after its training "
                                             "window, fewer than 7")
