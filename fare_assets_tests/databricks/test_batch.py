"""Batch scoring in Spark (databricks/batch.py) computes what the pandas path computes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fare_assets.backends.interfaces import PREDICTIONS_TABLE
from fare_assets.databricks.batch import score_window, spark_clean_trips
from fare_assets.databricks.spark import UnityCatalogTripSource
from fare_assets.databricks.tables import SparkTableStore
from fare_assets.ml.features import compute_features, feature_columns
from fare_assets.ml.schema import LABEL, PICKUP_TIME, TRIP_ID
from fare_assets.ml.sources import clean_trips
from fare_assets.ml.synthetic import generate_trips
from fare_assets_tests.databricks.test_spark import samples_table, settings

START, END = pd.Timestamp("2016-03-01"), pd.Timestamp("2016-03-05")


def dirty_trips() -> pd.DataFrame:
    """Synthetic trips with a row for every reject reason (some hit two) and NaNs."""
    trips = generate_trips(pd.Timestamp("2016-02-28"), pd.Timestamp("2016-03-06"))
    pickup = pd.Timestamp("2016-03-02 10:00")
    bad = pd.DataFrame({
        PICKUP_TIME: [pd.NaT, pickup, pickup, pickup, pickup, pickup, pickup, pickup, pickup, pickup, pickup, pickup],
        "tpep_dropoff_datetime": [pickup, pd.NaT] + [pickup + pd.Timedelta(minutes=10)] * 7
        + [pickup + pd.Timedelta(seconds=30), pickup + pd.Timedelta(hours=5), pickup + pd.Timedelta(minutes=10)],
        "trip_distance": [1.0, 1.0, np.nan, 1.0, 1.0, 1.0, 0.0, 150.0, 1.0, 1.0, 1.0, -1.0],
        "fare_amount": [5.0, 5.0, 5.0, np.nan, 0.0, 600.0, 5.0, 5.0, 5.0, 5.0, 5.0, -3.0],
    }).astype({PICKUP_TIME: "datetime64[us]", "tpep_dropoff_datetime": "datetime64[us]"})
    return pd.concat([trips, bad], ignore_index=True)


@pytest.fixture(scope="module")
def uc_table(spark):
    spark.sql("CREATE DATABASE IF NOT EXISTS samples_batch")
    table = samples_table(dirty_trips())
    some = table[table[PICKUP_TIME].between(START, END - pd.Timedelta(days=1))].head(3)
    table = pd.concat([table, some, some.head(1)], ignore_index=True)  # exact duplicates: repeat ids
    spark.createDataFrame(table).write.mode("overwrite").saveAsTable("spark_catalog.samples_batch.trips")
    return "spark_catalog.samples_batch.trips"


def test_spark_cleaning_equals_clean_trips(spark, uc_table, tmp_path):
    from fare_assets.databricks.batch import spark_trips

    expected, expected_rejected = clean_trips(
        UnityCatalogTripSource(settings(tmp_path, DATABRICKS_SOURCE_TABLE=uc_table), spark).read(START, END))
    actual, rejected = spark_clean_trips(spark_trips(spark.table(uc_table), START, END))
    actual = actual.toPandas()
    assert rejected == expected_rejected and len(rejected) == 9  # a missing pickup is in no window
    assert actual[TRIP_ID].str.contains("-").any()  # the duplicates got the pandas path's repeat ids
    pd.testing.assert_frame_equal(actual.sort_values(TRIP_ID, ignore_index=True),
                                  expected.sort_values(TRIP_ID, ignore_index=True), check_dtype=False)


@pytest.fixture(scope="module")
def registered_model(spark, uc_table, tmp_path_factory):
    """A small model of the window's trips, registered as version 1 of `fare_predictor_spark` in a local MLflow."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingRegressor

    from fare_assets.ml.training import SKOPS_TRUSTED_TYPES

    folder = tmp_path_factory.mktemp("spark_mlflow")
    columns = feature_columns()
    trips, _ = clean_trips(UnityCatalogTripSource(settings(folder, DATABRICKS_SOURCE_TABLE=uc_table), spark).read(START, END))
    features = compute_features(trips)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(
        features[columns].to_numpy(dtype="float64"), trips[LABEL])
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("spark_batch", artifact_location=(folder / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=SKOPS_TRUSTED_TYPES, pip_requirements=["scikit-learn"], signature=infer_signature(
            features[columns].head(), pd.Series(model.predict(features[columns].head().to_numpy("float64")), name="prediction")),
            registered_model_name="fare_predictor_spark")
    return model, info, uri


@pytest.mark.slow
def test_spark_batch_scores_equal_the_pandas_path(spark, uc_table, registered_model, tmp_path):
    model, info, _ = registered_model
    columns = feature_columns()
    trips, rejected = clean_trips(
        UnityCatalogTripSource(settings(tmp_path, DATABRICKS_SOURCE_TABLE=uc_table), spark).read(START, END))
    features = compute_features(trips)
    scored_at = pd.Timestamp("2026-01-01 12:00")
    scored, spark_rejected = score_window(spark, spark.table(uc_table), START, END, info.model_uri, 3, scored_at)
    actual = scored.toPandas().set_index(TRIP_ID)
    assert spark_rejected == rejected
    assert list(actual.columns) == [PICKUP_TIME, *columns, LABEL, "prediction", "model_version", "scored_at"]
    assert sorted(actual.index) == sorted(trips[TRIP_ID])
    expected = pd.concat([trips[[TRIP_ID, PICKUP_TIME]], features, trips[[LABEL]]], axis=1).set_index(TRIP_ID)
    expected["prediction"] = model.predict(features[columns].to_numpy("float64"))
    actual = actual.loc[expected.index]
    pd.testing.assert_frame_equal(actual[expected.columns], expected, check_dtype=False, check_index_type=False, rtol=1e-9)
    assert set(actual["model_version"]) == {3} and set(actual["scored_at"]) == {scored_at}

    store = SparkTableStore("spark_catalog.fare_tests", spark)
    assert store.insert_new_frame("batch_scores", scored.limit(10), key=TRIP_ID) == 10
    assert store.insert_new_frame("batch_scores", scored, key=TRIP_ID) == len(trips) - 10
    assert store.insert_new_frame("batch_scores", scored, key=TRIP_ID) == 0
    assert store.count("batch_scores") == len(trips)


@pytest.fixture
def rows_fetched_to_driver(monkeypatch) -> list[int]:
    """The size of every result the Spark Connect client pulls to the driver (collect, first, toPandas,
    toArrow and toLocalIterator all arrive through these two calls)."""
    from pyspark.sql.connect.client.core import SparkConnectClient

    fetched: list[int] = []
    execute_and_fetch, as_iterator = SparkConnectClient._execute_and_fetch, SparkConnectClient._execute_and_fetch_as_iterator

    def counted(self, *args, **kwargs):
        result = execute_and_fetch(self, *args, **kwargs)
        if result[0] is not None:
            fetched.append(result[0].num_rows)
        return result

    def counted_batches(self, *args, **kwargs):
        for item in as_iterator(self, *args, **kwargs):
            if hasattr(item, "num_rows"):
                fetched.append(item.num_rows)
            yield item

    monkeypatch.setattr(SparkConnectClient, "_execute_and_fetch", counted)
    monkeypatch.setattr(SparkConnectClient, "_execute_and_fetch_as_iterator", counted_batches)
    return fetched


@pytest.mark.slow
def test_the_spark_scorer_inserts_a_window_without_collecting_it_to_the_driver(spark, uc_table, registered_model,
                                                                                tmp_path, rows_fetched_to_driver):
    from fare_assets.backends.registry import MlflowRegistry
    from fare_assets.databricks.batch import SparkBatchScorer

    _, _, uri = registered_model
    source = UnityCatalogTripSource(settings(tmp_path, DATABRICKS_SOURCE_TABLE=uc_table), spark)
    store = SparkTableStore("spark_catalog.fare_no_collect", spark)
    registry = MlflowRegistry("fare_predictor_spark", uri, uri, experiment=lambda: "spark_batch",
                              link=lambda experiment_id, run_id: run_id)
    result = SparkBatchScorer(source, store, registry, include_location=False).score(START, END, version=1)
    assert result.rows == result.inserted > 1000 and store.count(PREDICTIONS_TABLE) == result.rows
    # Only aggregates came back: the reject counts per reason, the window's row count and MAE, the
    # count check above; never the window's trips or predictions.
    assert rows_fetched_to_driver and max(rows_fetched_to_driver) <= 10, rows_fetched_to_driver
