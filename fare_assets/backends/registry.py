"""The MLflow registry as tasks, status and replay use it: one registered model, its aliases,
versions and tags. The target supplies the URIs, the experiment and the UI link."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from fare_assets.backends.model_cache import ModelCache, sklearn_model_file

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
        self._experiment_id: str | None = None

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
        if self._experiment_id is None:
            import mlflow

            # Again here: another registry in this process (another home) may have moved the global URIs.
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri)
            self._experiment_id = mlflow.set_experiment(self._experiment()).experiment_id
        return client

    def experiment_id(self) -> str:
        """The project's experiment, created on first use."""
        self.connect()
        return self._experiment_id

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

    def versions_tagged(self, key: str, value: str) -> list[int]:
        """Every registered version whose tag `key` is `value`."""
        versions = self.client().search_model_versions(f"name = '{self.model_name}'")
        return sorted(int(v.version) for v in versions if v.tags.get(key) == value)

    def version_tags(self, version: int) -> dict[str, str]:
        return dict(self.client().get_model_version(self.model_name, str(version)).tags)

    def version_location(self, version: int) -> tuple[str, str] | None:
        """(status, download URI) of a registered version; None if there is no such version."""
        from mlflow.exceptions import MlflowException

        try:
            record = self.client().get_model_version(self.model_name, str(version))
        except MlflowException as error:
            if means_absent(error):
                return None
            raise
        return record.status, self.client().get_model_version_download_uri(self.model_name, str(version))

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
    Loaded versions are kept in a ModelCache in the home (`cache/models`), so that each task does
    not pay MLflow's and skops' imports again for a version already loaded once.
    Everything else, and any sqlite schema we do not recognise, goes through MLflow."""

    lock_timeout_seconds = 30.0

    def __init__(self, db_path, *args, model_cache: ModelCache, **kwargs):
        super().__init__(*args, **kwargs)
        self.db_path = db_path
        self.model_cache = model_cache

    @classmethod
    def reader(cls, settings) -> SqliteRegistry:
        """The local registry for reading versions, aliases and tags (the endpoint manager's use):
        it has no experiment to log runs to, and no UI links."""
        def no_runs(*_):
            raise RuntimeError("SqliteRegistry.reader() is for reading the registry, not for logging runs")

        uri = settings.local_mlflow_uri
        return cls(settings.local_mlflow_db, settings.registered_model_name, uri, uri, experiment=no_runs, link=no_runs,
                   model_cache=ModelCache(settings.model_cache_dir))

    def _read_one(self, sql: str, params: tuple, what: str):
        rows = self._read_all(sql, params, what)
        return rows if rows is _SCHEMA_UNKNOWN else next(iter(rows), None)

    def _read_all(self, sql: str, params: tuple, what: str):
        """Rows of the registry's sqlite file, read-only; _SCHEMA_UNKNOWN if its tables differ from ours
        (no registry file yet reads as no rows, and creates nothing)."""
        import sqlite3

        if not self.db_path.exists():
            return []
        try:
            with closing(sqlite3.connect(f"{self.db_path.as_uri()}?mode=ro", uri=True, timeout=self.lock_timeout_seconds)) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error) or "no such column" in str(error):
                return _SCHEMA_UNKNOWN
            raise RegistryUnavailable(f"could not read {what} of {self.model_name} from {self.db_path}: {error}") from error

    def alias_version(self, alias: str) -> int | None:
        row = self._read_one("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                             (self.model_name, alias), f"alias {alias}")
        if row is _SCHEMA_UNKNOWN:
            return super().alias_version(alias)
        return int(row[0]) if row else None

    def versions_tagged(self, key: str, value: str) -> list[int]:
        rows = self._read_all("SELECT t.version FROM model_version_tags t JOIN model_versions v "
                              "ON v.name = t.name AND v.version = t.version WHERE t.name = ? AND t.key = ? "
                              f"AND t.value = ? AND {_NOT_DELETED}", (self.model_name, key, value), f"versions tagged {key}")
        if rows is _SCHEMA_UNKNOWN:
            return super().versions_tagged(key, value)
        return sorted(int(version) for (version,) in rows)

    def version_tags(self, version: int) -> dict[str, str]:
        rows = self._read_all("SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                              (self.model_name, version), f"tags of version {version}")
        if rows is _SCHEMA_UNKNOWN:
            return super().version_tags(version)
        return dict(rows)

    def version_location(self, version: int) -> tuple[str, str] | None:
        # As MLflow's sqlite store answers get_model_version_download_uri: storage_location or source
        # (mlflow/store/model_registry/sqlalchemy_store.py).
        row = self._read_one(f"SELECT status, COALESCE(NULLIF(storage_location, ''), source) FROM model_versions v "
                             f"WHERE name = ? AND version = ? AND {_NOT_DELETED}", (self.model_name, version),
                             f"version {version}")
        if row is _SCHEMA_UNKNOWN:
            return super().version_location(version)
        return (row[0], row[1]) if row else None

    def load_version(self, version: int, sleep=time.sleep):
        model_file = self._model_file(version)
        if model_file is None:
            return super().load_version(version, sleep)
        return self.model_cache.load(self.model_name, version, model_file,
                                     lambda: MlflowRegistry.load_version(self, version, sleep))

    def _model_file(self, version: int) -> Path | None:
        """The version's serialized model, found from its storage location; None when anything is
        missing or unexpected (MLflow then loads it, or says what is wrong)."""
        row = self._read_one(f"SELECT storage_location FROM model_versions v WHERE name = ? AND version = ? AND {_NOT_DELETED}",
                             (self.model_name, version), f"version {version}")
        if row is _SCHEMA_UNKNOWN or not row or not str(row[0]).startswith("file://"):
            return None
        return sklearn_model_file(Path(url2pathname(urlparse(row[0]).path)))


_SCHEMA_UNKNOWN = object()
# MLflow keeps a deleted version's row, marked with this stage (mlflow/entities/model_registry/model_version_stages.py
# STAGE_DELETED_INTERNAL), and leaves it out of every search: so do we.
_NOT_DELETED = "v.current_stage != 'Deleted_Internal'"
