"""The registry as the tasks read it: only "no such alias" means there is no Champion; a registry
that cannot be read fails loudly instead of reading as "no Champion" (which would promote blindly)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from fare_assets.backends.registry import MlflowRegistry, RegistryUnavailable, SqliteRegistry, means_absent


def test_the_fast_sqlite_reader_answers_as_mlflow_does(trained_pipeline):
    fast = trained_pipeline.registry
    assert isinstance(fast, SqliteRegistry)
    slow = MlflowRegistry(fast.model_name, fast.tracking_uri, fast.registry_uri, lambda: "unused", lambda e, r: "")
    for alias in ("Champion", "Challenger", "NoSuchAlias"):
        assert fast.alias_version(alias) == slow.alias_version(alias)
    version = fast.alias_version("Champion")
    for registry in (fast, slow):
        assert registry.version_location(version) == slow.version_location(version)
        assert registry.version_location(999) is None
        assert registry.version_tags(version) == slow.version_tags(version) and "holdout_mae" in slow.version_tags(version)
        assert registry.versions_tagged("holdout_mae", slow.version_tags(version)["holdout_mae"]) == [version]
    other = MlflowRegistry("main.ml_serving.no_such_model", fast.tracking_uri, fast.registry_uri,
                           lambda: "unused", lambda e, r: "")
    assert other.alias_version("Champion") is None


def test_a_locked_registry_is_unavailable_not_a_missing_champion(trained_pipeline, monkeypatch):
    registry = trained_pipeline.registry
    monkeypatch.setattr(registry, "lock_timeout_seconds", 0.2)
    with closing(sqlite3.connect(registry.db_path)) as writer:
        writer.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
        with pytest.raises(RegistryUnavailable, match="database is locked"):
            registry.alias_version("Champion")
        writer.rollback()
    assert registry.alias_version("Champion") is not None


@pytest.mark.parametrize(("code", "message", "absent"), [
    ("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=x not found", True),
    ("INVALID_PARAMETER_VALUE", "Registered model alias Champion not found.", True),
    ("NOT_FOUND", "alias not found", True),
    ("INTERNAL_ERROR", "(sqlite3.OperationalError) database is locked", False),
    ("PERMISSION_DENIED", "User does not have USE SCHEMA on Schema 'main.ml_serving'", False),
    ("TEMPORARILY_UNAVAILABLE", "try again", False),
])
def test_only_a_missing_alias_or_model_means_absent(code, message, absent):
    error = MlflowException(message, error_code=getattr(databricks_pb2, code))
    assert error.error_code == code
    assert means_absent(error) is absent


def test_a_loaded_version_is_cached_and_the_cache_never_outlives_its_model_file(trained_pipeline, tmp_path):
    registry = trained_pipeline.registry
    version = registry.alias_version("Champion")
    model_file = registry._model_file(version)
    first = registry.load_version(version)
    cached = registry.model_cache.get(registry.model_name, version, model_file)
    assert cached is not None and type(cached) is type(first)
    inputs = [[2.0, 9, 3, 1, 0, 1, 132, 236]]  # the quick start's trips carry zones
    assert registry.load_version(version).predict(inputs) == pytest.approx(first.predict(inputs))

    original = model_file.read_bytes()
    try:
        model_file.write_bytes(original + b" ")  # the registered model changed under the cache
        assert registry.model_cache.get(registry.model_name, version, model_file) is None
        model_file.unlink()  # and once it is gone, loading fails as it would without a cache
        with pytest.raises(RuntimeError, match=f"could not load {registry.model_name} version {version}"):
            registry.load_version(version, sleep=lambda _: None)
    finally:
        model_file.write_bytes(original)
    assert registry.model_cache.get(registry.model_name, version, model_file) is not None
