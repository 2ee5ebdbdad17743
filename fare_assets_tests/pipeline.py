"""A whole fare-assets deployment in a temp folder: real MLflow, Delta tables, Pipes subprocesses."""

from __future__ import annotations

from pathlib import Path

from fare_assets.backends import open_target
from fare_assets.backends.history import read_history
from fare_assets.definitions import build_definitions
from fare_assets.instance import open_instance
from fare_assets.settings import Settings
from fare_assets_tests.conftest import settings_env


class Pipeline:
    def __init__(self, home: Path, **overrides: str):
        self._open(settings_env(home, **overrides))

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Pipeline:
        """The same deployment again, e.g. in another process: the same home, port and windows."""
        pipeline = cls.__new__(cls)
        pipeline._open(env)
        return pipeline

    def _open(self, env: dict[str, str]) -> None:
        self.env = env
        self.settings = Settings.from_env(self.env)
        self.defs = build_definitions(self.settings)
        self.instance = open_instance(self.settings)
        target = open_target(self.settings)
        self.store, self.registry = target.table_store(), target.registry()

    def run_job(self, name: str, run_config: dict | None = None, raise_on_error: bool = True):
        return self.defs.get_job_def(name).execute_in_process(
            instance=self.instance, run_config=run_config, raise_on_error=raise_on_error
        )

    def materialize(self, *asset_names: str, run_config: dict | None = None, raise_on_error: bool = True,
                    tags: dict[str, str] | None = None):
        from dagster import AssetSelection, define_asset_job

        job = define_asset_job("adhoc", AssetSelection.assets(*asset_names)).resolve(
            asset_graph=self.defs.resolve_asset_graph(), resource_defs=self.defs.resources
        )
        return job.execute_in_process(instance=self.instance, run_config=run_config, raise_on_error=raise_on_error,
                                      tags=tags)

    @staticmethod
    def failure_message(result) -> str:
        """The whole chain of the failed step's error, as a user reads it in the UI."""
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        error, messages = failure.event_specific_data.error, []
        while error is not None:
            messages.append(error.message)
            error = error.cause
        return "\n".join(messages)

    def alias(self, alias: str) -> int | None:
        return self.registry.alias_version(alias)

    @property
    def client(self):
        return self.registry.client()

    def watermark(self):
        return read_history(self.store).watermark

    def model_info(self, version: int):
        import mlflow
        from mlflow.models import get_model_info

        mlflow.set_tracking_uri(self.settings.local_mlflow_uri)
        mlflow.set_registry_uri(self.settings.local_mlflow_uri)
        return get_model_info(f"models:/{self.settings.registered_model_name}/{version}")

    def latest_metadata(self, asset: str) -> dict:
        from dagster import AssetKey

        event = self.instance.get_latest_materialization_event(AssetKey(asset))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}

    def endpoint(self):
        from fare_assets.serving.manager import LocalEndpoint

        return LocalEndpoint.from_settings(self.settings)

    def stop_endpoint(self) -> None:
        from fare_assets.serving.manager import LocalEndpoint

        LocalEndpoint.from_settings(self.settings).stop()
