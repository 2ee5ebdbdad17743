"""Fixtures for the Databricks target: a fake workspace over HTTP, and a local Spark session."""

from __future__ import annotations

import os
import shutil

import pytest

from fare_assets_tests.databricks.fake_workspace import FakeWorkspace


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fake workspace; the SDK's unified auth finds it through the environment, as a user's would."""
    for key in [k for k in os.environ if k.startswith("DATABRICKS_")]:
        monkeypatch.delenv(key)
    # No ~/.databrickscfg of the developer's may leak in.
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    with FakeWorkspace(tmp_path / "workspace") as fake:
        monkeypatch.setenv("DATABRICKS_HOST", fake.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", fake.token)
        yield fake


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local Spark session for the whole test session (Spark takes seconds to start)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("the Spark path needs Java (install a JDK 17 and put `java` on PATH)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("fare-assets-tests")
        .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={tmp_path_factory.mktemp('derby')}")
        .getOrCreate()
    )
    yield session
    session.stop()
