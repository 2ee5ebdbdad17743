"""The Spark data path on Databricks: trips from a Unity Catalog table, features, batch scoring.

Features are defined once (fare_assets.ml.features); `spark_features` is the same definition
in Spark column expressions, and a parity test holds them equal. Trips are normalised by the
same pandas code as local files, after Spark has cut the window out of the table.
"""

from __future__ import annotations

import pandas as pd

from fare_assets.ml.features import RUSH_HOURS, WEEKEND_DAYS
from fare_assets.ml.schema import LOCATION_COLUMNS, PICKUP_TIME
from fare_assets.ml.sources import FILE_SCHEMAS, normalise_trips
from fare_assets.ml.trip_source import TripSource
from fare_assets.settings import Settings


def get_spark():
    """The job's session on Databricks (or the active local one in tests), in UTC like the meters' data."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    # Pickup times are NYC wall-clock values stored as timestamps: read them back unshifted.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


class UnityCatalogTripSource(TripSource):
    """Trips from a Unity Catalog table with the samples.nyctaxi.trips or the TLC schema."""

    def __init__(self, settings: Settings, spark=None):
        self.table = settings.databricks_source_table
        self.name = f"uc:{self.table}"
        self.settings = settings
        self._spark = spark

    @property
    def spark(self):
        self._spark = self._spark or get_spark()
        return self._spark

    def _raw(self):
        return self.spark.table(self.table)

    def _pickup_column(self) -> str:
        columns = set(self._raw().columns)
        return next(m[PICKUP_TIME] for m in FILE_SCHEMAS.values() if m[PICKUP_TIME] in columns)

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        from pyspark.sql import functions as F

        pickup = F.col(self._pickup_column())
        window = self._raw().where((pickup >= F.lit(pd.Timestamp(start).to_pydatetime()))
                                   & (pickup < F.lit(pd.Timestamp(end).to_pydatetime())))
        raw = window.orderBy(pickup).toPandas()
        return normalise_trips(raw).sort_values(PICKUP_TIME, kind="stable", ignore_index=True)

    def horizon(self) -> pd.Timestamp | None:
        """A table has no end of file: the configured horizon, else its newest pickup (stray future
        rows left out) less the allowed lateness."""
        from fare_assets.clock import table_horizon

        configured = self.settings.data_horizon
        newest = None if configured is not None else self._newest_pickup()  # a configured one saves the query
        return table_horizon(newest, self.settings.allowed_lateness, configured)

    def _newest_pickup(self) -> pd.Timestamp | None:
        from pyspark.sql import functions as F

        pickup = F.col(self._pickup_column()).cast("timestamp")
        newest = self._raw().where(pickup <= F.current_timestamp()).select(F.max(pickup)).first()[0]
        return pd.Timestamp(newest) if newest is not None else None

    def extent(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        from pyspark.sql import functions as F

        # Like local files: stray pickups years away from the data are ignored (outer 0.1%).
        seconds = self._raw().select(F.unix_timestamp(self._pickup_column()).alias("t")).where("t IS NOT NULL")
        low, high = seconds.approxQuantile("t", [0.001, 0.999], 0.0001)
        return pd.Timestamp(low, unit="s").floor("D"), pd.Timestamp(high, unit="s").ceil("D")


def spark_features(trips, include_location: bool = False):
    """compute_features in Spark: the trips DataFrame with the model's input columns added."""
    from pyspark.sql import functions as F

    pickup = F.col(PICKUP_TIME)
    hour, dayofweek = F.hour(pickup), F.dayofweek(pickup)  # dayofweek: 1 = Sunday ... 7 = Saturday
    is_weekend = dayofweek.isin(*sorted(WEEKEND_DAYS))
    columns = {
        "trip_distance": F.col("trip_distance").cast("double"),
        "pickup_hour": hour.cast("long"),
        "pickup_dayofweek": dayofweek.cast("long"),
        "pickup_month": F.month(pickup).cast("long"),
        "is_weekend": is_weekend.cast("long"),
        "is_rush_hour": (~is_weekend & hour.isin(*sorted(RUSH_HOURS))).cast("long"),
    }
    if include_location:
        # As in compute_features: a missing zone stays missing (null, NaN in pandas).
        columns.update({c: (F.col(c) if c in trips.columns else F.lit(None)).cast("double") for c in LOCATION_COLUMNS})
    return trips.withColumns(columns)


def score_with_spark_udf(spark, model_uri: str, features, columns: list[str], output: str = "prediction"):
    """Batch-score a (large) features DataFrame with the registered model, on the executors."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    predict = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="double", env_manager="local")
    return features.withColumn(output, predict(F.struct(*[F.col(c) for c in columns])))
