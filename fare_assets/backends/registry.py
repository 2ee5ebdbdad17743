"""The MLflow registry as tasks, status and replay use it: one registered model, its aliases,
versions and tags. The target supplies the URIs, the experiment and the UI link."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing

LOAD_ATTEMPTS = 4
# "No such alias" and "no such model" are the only answers that mean "no Champion yet": MLflow's
# sqlite store says INVALID_PARAMETER_VALUE "Registered model alias X not found." for the first and
# RESOURCE_DOES_NOT_EXIST for the second; Unity Catalog answers NOT_FOUND / RESOURCE_DOES_NOT_EXIST.
_ABSENT_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


class RegistryUnavailable(RuntimeError):
    """The registry could not be read: never taken to mean that there is no Champion."""


def means_absent(error) -> bool:
    code, message = getattr(error, "error_code", ""), str(error).lower()
    return code in _ABSENT_CODES or (code == "INVALID_PARAMETER_VALUE" and "alias" in message and "not found" in message)


class MlflowRegistry:
    """Tracking and registry through MLflow's client; imported only when first used."""

    def __init__(self, model_name: str, tracking_uri: str, registry_uri: str,
                 experiment: Callable[[], str], link: Callable[[str, str], str]):
        self.model_name, self.tracking_uri, self.registry_uri = model_name, tracking_uri, registry_uri
        self._experiment, self._link = experiment, link
        self._client = None
        self._connected = False

    def client(self):
        """A client for reading and writing the registry; it creates no experiment."""
        if self._client is None:
            import mlflow
            from mlflow import MlflowClient

            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri)
            self._client = MlflowClient(self.tracking_uri, self.registry_uri)
        return self._client

    def connect(self):
        """Point MLflow at this registry and the project's experiment, for runs; return the client."""
        client = self.client()
        if not self._connected:
            import mlflow

            mlflow.set_experiment(self._experiment())
            self._connected = True
        return client

    def alias_version(self, alias: str) -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client().get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException as error:
            if means_absent(error):
                return None
            raise RegistryUnavailable(
                f"could not read alias {alias} of {self.model_name} from {self.tracking_uri}: {error}") from error

    def set_alias(self, alias: str, version: int) -> None:
        self.client().set_registered_model_alias(self.model_name, alias, str(version))

    def tag_version(self, version: int, tags: dict) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, str(version), key, str(value))

    def load_version(self, version: int, sleep=time.sleep):
        """Load a registered version, retrying with backoff: a fresh registration's artifacts can
        lag its record (cold start on remote stores); the last error is raised with the version named."""
        import mlflow.sklearn

        self.client()
        delay = 0.5
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            try:
                return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
            except Exception as error:  # noqa: BLE001 - any load failure is retried, then named
                if attempt == LOAD_ATTEMPTS:
                    raise RuntimeError(
                        f"could not load {self.model_name} version {version} after {attempt} attempts: {error}"
                    ) from error
                sleep(delay)
                delay *= 2

    def run_link(self, experiment_id: str, run_id: str) -> str:
        return self._link(experiment_id, run_id)


class SqliteRegistry(MlflowRegistry):
    """The local registry, whose aliases are read straight from its sqlite file: `fare-assets status`
    and replay's bookkeeping answer in milliseconds instead of importing MLflow (about 3 s here).
    Everything else, and any sqlite schema we do not recognise, goes through MLflow."""

    lock_timeout_seconds = 30.0

    def __init__(self, db_path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.db_path = db_path

    def alias_version(self, alias: str) -> int | None:
        import sqlite3

        if not self.db_path.exists():
            return None  # a home with no registry yet: read without creating one
        try:
            with closing(sqlite3.connect(f"{self.db_path.as_uri()}?mode=ro", uri=True, timeout=self.lock_timeout_seconds)) as db:
                row = db.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                 (self.model_name, alias)).fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error) or "no such column" in str(error):
                return super().alias_version(alias)
            raise RegistryUnavailable(f"could not read alias {alias} of {self.model_name} from {self.db_path}: {error}") from error
        return int(row[0]) if row else None
