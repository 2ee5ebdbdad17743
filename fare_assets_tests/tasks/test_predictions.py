"""Batch scoring: each run scores the next window after the watermark; reruns add nothing."""

import pandas as pd

from fare_assets.ml.features import compute_features
from fare_assets.ml.schema import FEATURE_COLUMNS


def test_the_first_scored_window_starts_at_the_end_of_the_first_training_window(trained_pipeline):
    pipeline = trained_pipeline
    if not pipeline.store.exists("predictions_watermarks"):
        pipeline.materialize("predictions")
    first_training = pipeline.client.get_model_version(pipeline.settings.registered_model_name, "1")
    scored = pipeline.store.read("predictions_watermarks")
    assert scored["window_start"].min() == pd.Timestamp(first_training.tags["train_end"])


def test_two_runs_advance_the_watermark_and_a_rerun_adds_no_rows(trained_pipeline):
    pipeline = trained_pipeline
    before = pipeline.watermark()
    rows_before = pipeline.store.count("predictions") or 0

    pipeline.materialize("predictions")
    first = pipeline.latest_metadata("predictions")
    pipeline.materialize("predictions")
    second = pipeline.latest_metadata("predictions")
    assert pd.Timestamp(first["window_start"]) == before
    assert pd.Timestamp(second["window_start"]) == pd.Timestamp(first["window_end"])
    assert pd.Timestamp(second["watermark"]) == before + 2 * pipeline.settings.batch_window
    rows = pipeline.store.count("predictions")
    assert rows == rows_before + first["rows"] + second["rows"] > rows_before

    rerun = {"ops": {"predictions": {"config": {"window_start": first["window_start"]}}}}
    pipeline.materialize("predictions", run_config=rerun)
    assert pipeline.latest_metadata("predictions")["rows_inserted"] == 0
    assert pipeline.store.count("predictions") == rows
    assert pd.Timestamp(pipeline.latest_metadata("predictions")["watermark"]) == pd.Timestamp(second["watermark"])


def test_each_prediction_row_carries_its_features_actual_version_and_time(trained_pipeline):
    table = trained_pipeline.store.read("predictions")
    if table is None or table.empty:
        trained_pipeline.materialize("predictions")
        table = trained_pipeline.store.read("predictions")
    expected = {"trip_id", "tpep_pickup_datetime", *FEATURE_COLUMNS, "fare_amount", "prediction",
                "model_version", "scored_at"}
    assert expected <= set(table.columns)
    assert table["trip_id"].is_unique
    assert (table["model_version"] == trained_pipeline.alias("Champion")).all()
    recomputed = compute_features(table)
    pd.testing.assert_frame_equal(recomputed[list(FEATURE_COLUMNS)], table[list(FEATURE_COLUMNS)], check_dtype=False)
