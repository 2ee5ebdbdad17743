"""The local target: files or synthetic trips, Delta tables and MLflow (sqlite) under
$FARE_ASSETS_HOME, an HTTP endpoint process we own, pandas batch scoring, Pipes subprocesses."""

from __future__ import annotations

import pandas as pd

from fare_assets.backends.delta_tables import LocalTableStore
from fare_assets.backends.interfaces import PREDICTIONS_TABLE, BatchResult
from fare_assets.backends.model_cache import ModelCache
from fare_assets.backends.registry import MlflowRegistry, SqliteRegistry
from fare_assets.ml.features import load_features, predict_features
from fare_assets.ml.schema import LABEL, TRIP_ID
from fare_assets.settings import Settings

EXPERIMENT = "fare_assets"


class LocalTarget:
    name = "local"
    # The Dagster process draws each monitoring chart and logs its run into the home's sqlite store
    # (resources.monitoring_reports).
    monitoring_reports_in_task = False

    def __init__(self, settings: Settings):
        self.settings = settings

    def trip_source(self):
        from fare_assets.ml.trip_source import open_trip_source

        s = self.settings
        return open_trip_source(s.source, cache_dir=s.home / "cache", tlc_base_url=s.tlc_base_url, scenario=s.scenario)

    def source_description(self) -> str:
        s = self.settings
        return s.source + (f" (scenario {s.scenario})" if s.scenario else "")

    def scheduling_horizon(self) -> pd.Timestamp | None:
        """The source's data horizon, for the batch schedule's skip reason."""
        return self.trip_source().horizon()

    def table_store(self) -> LocalTableStore:
        return LocalTableStore(self.settings.lakehouse)

    def registry(self) -> MlflowRegistry:
        s = self.settings
        return SqliteRegistry(s.local_mlflow_db, s.registered_model_name, s.local_mlflow_uri, s.local_mlflow_uri,
                              experiment=self._experiment,
                              link=lambda experiment, run: f"{s.mlflow_ui}/#/experiments/{experiment}/runs/{run}",
                              model_cache=ModelCache(s.model_cache_dir))

    def _experiment(self) -> str:
        import mlflow

        self.settings.home.mkdir(parents=True, exist_ok=True)
        if mlflow.get_experiment_by_name(EXPERIMENT) is None:
            mlflow.create_experiment(EXPERIMENT, artifact_location=self.settings.artifact_location)
        return EXPERIMENT

    def tracking_ui(self) -> str:
        return self.settings.mlflow_ui

    def endpoint(self):
        from fare_assets.serving.manager import LocalEndpoint

        return LocalEndpoint.from_settings(self.settings)

    def batch_scorer(self, source, store, registry) -> PandasBatchScorer:
        return PandasBatchScorer(source, store, registry, self.settings.with_locations)

    def task_runner(self):
        from fare_assets.resources.task_runner import LocalTaskRunner

        return LocalTaskRunner(settings_env=self.settings.to_env())

    def doctor(self, probe: bool = True) -> int:
        print("fare-assets doctor checks the Databricks target: set FARE_ASSETS_TARGET=databricks "
              "and FARE_ASSETS_VOLUME (see docs/databricks.md); the local target needs no setup")
        return 2


class PandasBatchScorer:
    """Read, clean and featurize the window in pandas, predict in-process, merge new trips by id."""

    def __init__(self, source, store: LocalTableStore, registry: MlflowRegistry, include_location: bool):
        self.source, self.store, self.registry, self.include_location = source, store, registry, include_location

    def score(self, start: pd.Timestamp, end: pd.Timestamp, version: int) -> BatchResult:
        from fare_assets.clock import scored_at_now
        from fare_assets.ml.evaluation import regression_metrics

        features, rejected = load_features(self.source, start, end, self.include_location)
        if features.empty:
            return BatchResult(0, 0, rejected, None)
        scored = features.copy()
        scored["prediction"] = predict_features(self.registry.load_version(version), features)
        scored["model_version"] = version
        scored["scored_at"] = scored_at_now()
        inserted = self.store.insert_new(PREDICTIONS_TABLE, scored, key=TRIP_ID)
        mae = regression_metrics(scored[LABEL], scored["prediction"])["mae"]
        return BatchResult(len(scored), inserted, rejected, mae)
