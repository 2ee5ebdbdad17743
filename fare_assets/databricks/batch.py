"""Batch scoring on Databricks, all in Spark: a window of the UC trips table normalised and
cleaned by the one rule (sources.clean_trips, here as Spark conditions), featurized
(spark_features) and scored on the executors (score_with_spark_udf); new rows inserted."""

from __future__ import annotations

import pandas as pd

from fare_assets.backends.interfaces import PREDICTIONS_TABLE, BatchResult
from fare_assets.clock import scored_at_now
from fare_assets.databricks.spark import score_with_spark_udf, spark_features
from fare_assets.ml.features import feature_columns
from fare_assets.ml.schema import DROPOFF_TIME, LABEL, PICKUP_TIME, TRIP_COLUMNS, TRIP_ID
from fare_assets.ml.sources import FILE_SCHEMAS, REJECT_REASONS, detect_schema, trip_ids

REASON = "_reject_reason"
_KEY_COLUMNS = [c for c in TRIP_COLUMNS if c != TRIP_ID]
TRIP_COLUMNS_NO_ID = {c: TRIP_COLUMNS[c] for c in _KEY_COLUMNS}


def spark_trips(raw, start: pd.Timestamp, end: pd.Timestamp):
    """normalise_trips in Spark, for the pickups in [start, end): TRIP_COLUMNS, same trip ids."""
    from pyspark.sql import Window, functions as F
    from pyspark.sql.functions import pandas_udf

    mapping = FILE_SCHEMAS[detect_schema(list(raw.columns))]
    pickup = F.col(mapping[PICKUP_TIME]).cast("timestamp")
    window = raw.where((pickup >= F.lit(pd.Timestamp(start).to_pydatetime()))
                       & (pickup < F.lit(pd.Timestamp(end).to_pydatetime())))
    columns = {}
    for ours in _KEY_COLUMNS:
        kind = TRIP_COLUMNS[ours]
        if kind.startswith("datetime"):
            columns[ours] = F.col(mapping[ours]).cast("timestamp")
            continue
        value = F.col(mapping[ours]).cast("double") if ours in mapping else F.lit(None).cast("double")
        value = F.when(~F.isnan(value), value)  # NaN is missing, as in pandas
        if kind == "Int32":
            value = F.when(value.between(0, 2**31 - 1), F.bround(value)).cast("int")
        columns[ours] = value
    trips = window.select(*[c.alias(n) for n, c in columns.items()])

    @pandas_udf("string")
    def digest(*series: pd.Series) -> pd.Series:
        frame = pd.DataFrame(dict(zip(_KEY_COLUMNS, series))).astype(TRIP_COLUMNS_NO_ID)
        return trip_ids(frame).str.slice(0, 16).astype(object)  # the content hash, without repeats

    trips = trips.withColumn("_digest", digest(*[F.col(c) for c in _KEY_COLUMNS]))
    repeat = F.row_number().over(Window.partitionBy("_digest").orderBy(PICKUP_TIME)) - 1
    trip_id = F.concat(F.col("_digest"), F.when(repeat > 0, F.concat(F.lit("-"), repeat.cast("string"))).otherwise(""))
    return trips.withColumn(TRIP_ID, trip_id).select(*TRIP_COLUMNS)


def reject_conditions() -> dict:
    """clean_trips' conditions as Spark columns, by reason (null counts as false, like fillna)."""
    from pyspark.sql import functions as F

    fare, distance = F.col("fare_amount"), F.col("trip_distance")
    duration = F.col(DROPOFF_TIME).cast("double") - F.col(PICKUP_TIME).cast("double")
    return {
        "missing_pickup_time": F.col(PICKUP_TIME).isNull(),
        "missing_dropoff_time": F.col(DROPOFF_TIME).isNull(),
        "missing_distance": distance.isNull() | F.isnan(distance),
        "missing_fare": fare.isNull() | F.isnan(fare),
        "non_positive_fare": fare <= 0,
        "fare_over_500": fare > 500,
        "non_positive_distance": distance <= 0,
        "distance_over_100_miles": distance > 100,
        "duration_under_1_min": duration < 60,
        "duration_over_4_hours": duration > 4 * 3600,
    }


def spark_clean_trips(trips):
    """clean_trips in Spark: the kept rows, and rejected rows counted by the first reason that holds."""
    from pyspark.sql import functions as F

    conditions = reject_conditions()
    assert list(conditions) == [r for r, _ in REJECT_REASONS], "the Spark cleaning rule drifted from clean_trips"
    reason = None
    for name, condition in conditions.items():
        reason = (F if reason is None else reason).when(condition, F.lit(name))
    # No .cache(): serverless rejects it before environment 5 and has it only as a preview there
    # (environment.py); the rows are read twice instead, once for the counts and once when written.
    marked = trips.withColumn(REASON, reason)
    counts = {row[REASON]: int(row["count"]) for row in marked.where(F.col(REASON).isNotNull()).groupBy(REASON).count().collect()}
    rejected = {r: counts[r] for r, _ in REJECT_REASONS if counts.get(r)}
    return marked.where(F.col(REASON).isNull()).drop(REASON), rejected


def score_window(spark, raw, start, end, model_uri: str, version: int, scored_at, location_features: bool = False):
    """The predictions rows of a window (the local path's columns) and the rejected counts."""
    from pyspark.sql import functions as F

    clean, rejected = spark_clean_trips(spark_trips(raw, start, end))
    columns = feature_columns(location_features)
    features = spark_features(clean, include_location=location_features).select(TRIP_ID, PICKUP_TIME, *columns, LABEL)
    scored = score_with_spark_udf(spark, model_uri, features, columns)
    return scored.withColumns({"model_version": F.lit(int(version)).cast("long"),
                               "scored_at": F.lit(pd.Timestamp(scored_at).to_pydatetime())}), rejected


class SparkBatchScorer:
    """The batch window scored in Spark: trips cut from the UC table, cleaned, featurized and scored
    on the executors with spark_udf; only new trips are inserted, nothing is collected to the driver."""

    def __init__(self, source, store, registry, include_location: bool):
        self.source, self.store, self.registry, self.include_location = source, store, registry, include_location

    def score(self, start, end, version: int) -> BatchResult:
        from pyspark.sql import functions as F

        self.registry.connect()
        spark = self.source.spark
        scored, rejected = score_window(spark, spark.table(self.source.table), start, end,
                                        f"models:/{self.registry.model_name}/{version}", version,
                                        scored_at_now(), self.include_location)
        # Two passes over the window (one aggregate, one insert) instead of caching it: see spark_clean_trips.
        summary = scored.agg(F.count(F.lit(1)).alias("rows"),
                             F.avg(F.abs(F.col("prediction") - F.col(LABEL))).alias("mae")).first()
        rows = int(summary["rows"])
        inserted = self.store.insert_new_frame(PREDICTIONS_TABLE, scored, key=TRIP_ID) if rows else 0
        return BatchResult(rows, inserted, rejected, summary["mae"] if rows else None)
