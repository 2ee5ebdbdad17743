"""The Spark path computes what the pandas path computes: trips, features, tables, batch scores."""

from __future__ import annotations

import pandas as pd
import pytest

from fare_assets.databricks.spark import UnityCatalogTripSource, spark_features
from fare_assets.databricks.tables import SparkTableStore
from fare_assets.ml.features import compute_features, feature_columns
from fare_assets.ml.schema import PICKUP_TIME
from fare_assets.ml.sources import clean_trips, normalise_trips
from fare_assets.ml.synthetic import generate_trips
from fare_assets.settings import Settings


def samples_table(trips: pd.DataFrame) -> pd.DataFrame:
    """Trips in the column layout of samples.nyctaxi.trips."""
    return pd.DataFrame({
        "tpep_pickup_datetime": trips["tpep_pickup_datetime"], "tpep_dropoff_datetime": trips["tpep_dropoff_datetime"],
        "trip_distance": trips["trip_distance"], "fare_amount": trips["fare_amount"],
        "pickup_zip": pd.array([10001 + i % 50 for i in range(len(trips))], dtype="Int32"),
        "dropoff_zip": pd.array([10003] * len(trips), dtype="Int32"),
    })


@pytest.fixture(scope="module")
def trips() -> pd.DataFrame:
    # Every hour of every weekday, across a month boundary and a DST change.
    return clean_trips(generate_trips(pd.Timestamp("2016-02-25"), pd.Timestamp("2016-03-16")))[0]


def settings(tmp_path, **overrides) -> Settings:
    env = {"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": "/Volumes/spark_catalog/fare/v",
           "FARE_ASSETS_HOME": str(tmp_path), "FARE_ASSETS_CATALOG": "spark_catalog", "FARE_ASSETS_SCHEMA": "fare_tests"}
    return Settings.from_env({**env, **{f"FARE_ASSETS_{k}": v for k, v in overrides.items()}})


def test_spark_features_equal_compute_features(spark, trips):
    trips = trips.assign(pickup_location_id=pd.array([None, 7] * (len(trips) // 2) + [3] * (len(trips) % 2), dtype="Int32"),
                         dropoff_location_id=pd.array([12] * len(trips), dtype="Int32"))
    expected = compute_features(trips, include_location=True)
    columns = feature_columns(include_location=True)
    spark_trips = spark.createDataFrame(trips[["trip_id", PICKUP_TIME, "trip_distance", "pickup_location_id", "dropoff_location_id"]])
    actual = spark_features(spark_trips, include_location=True).toPandas()
    pd.testing.assert_frame_equal(actual[columns].reset_index(drop=True), expected[columns].reset_index(drop=True),
                                  check_dtype=False)
    assert set(actual["pickup_dayofweek"]) == set(range(1, 8))


def test_the_uc_source_reads_a_window_normalised_like_local_files(spark, trips, tmp_path):
    spark.sql("CREATE DATABASE IF NOT EXISTS samples_fake")
    spark.createDataFrame(samples_table(trips)).write.mode("overwrite").saveAsTable("spark_catalog.samples_fake.trips")
    source = UnityCatalogTripSource(settings(tmp_path, DATABRICKS_SOURCE_TABLE="spark_catalog.samples_fake.trips"), spark)
    start, end = pd.Timestamp("2016-03-01"), pd.Timestamp("2016-03-08")
    window = source.read(start, end)
    expected = normalise_trips(samples_table(trips))
    expected = expected[(expected[PICKUP_TIME] >= start) & (expected[PICKUP_TIME] < end)]
    expected = expected.sort_values(PICKUP_TIME, kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(window.sort_values("trip_id", ignore_index=True),
                                  expected.sort_values("trip_id", ignore_index=True))
    first, last = source.extent()
    assert first == pd.Timestamp("2016-02-25") and last <= pd.Timestamp("2016-03-16")


def test_the_table_store_round_trips_and_inserts_only_new_keys(spark, trips, tmp_path):
    store = SparkTableStore("spark_catalog.fare_tests", spark)
    frame = compute_features(trips.head(50)).assign(trip_id=trips["trip_id"].head(50), model_version=1)
    store.overwrite("scores", frame)
    assert store.location("scores") == "spark_catalog.fare_tests.scores"
    assert store.count("scores") == 50
    assert store.insert_new("scores", frame.head(60 - 10).iloc[40:].assign(model_version=2), key="trip_id") == 0
    assert store.insert_new("scores", compute_features(trips.iloc[50:60]).assign(
        trip_id=trips["trip_id"].iloc[50:60], model_version=2), key="trip_id") == 10
    store.overwrite("scores", frame.head(5).assign(model_version=3), where="model_version = 2")
    versions = store.read("scores", filters=[("model_version", ">=", 1)])["model_version"].value_counts().to_dict()
    assert versions == {1: 50, 3: 5}
    assert store.read("missing") is None
