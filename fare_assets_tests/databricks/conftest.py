"""Fixtures for the Databricks target: a fake workspace over HTTP, and one warm fake serverless cluster."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from fare_assets_tests.databricks.fake_cluster import FakeCluster
from fare_assets_tests.databricks.fake_workspace import FakeWorkspace


def clear_databricks_env(monkeypatch, tmp_path) -> None:
    for key in [k for k in os.environ if k.startswith("DATABRICKS_")]:
        monkeypatch.delenv(key)
    # No ~/.databrickscfg of the developer's may leak in.
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fake workspace without compute behind its runs; the SDK's unified auth finds it through the environment."""
    clear_databricks_env(monkeypatch, tmp_path)
    with FakeWorkspace(tmp_path / "workspace") as fake:
        monkeypatch.setenv("DATABRICKS_HOST", fake.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", fake.token)
        yield fake


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The fake serverless compute: one Spark Connect server for the whole test session (Spark takes seconds to start)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("the Spark path needs Java (install a JDK 17 and put `java` on PATH)")
    if importlib.util.find_spec("grpc_status") is None:
        pytest.fail("Spark Connect needs pyspark's `connect` extra (grpcio-status, googleapis-common-protos, zstandard)")
    with FakeCluster(tmp_path_factory.mktemp("cluster")) as fake:
        yield fake


@pytest.fixture
def serverless(cluster, tmp_path, monkeypatch):
    """A fake workspace whose runs execute on the fake serverless cluster."""
    clear_databricks_env(monkeypatch, tmp_path)
    with FakeWorkspace(tmp_path / "workspace", volumes=("main.ml_serving.fare_assets",), cluster=cluster) as fake:
        monkeypatch.setenv("DATABRICKS_HOST", fake.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", fake.token)
        yield fake


@pytest.fixture(scope="session")
def spark(cluster, tmp_path_factory):
    """This process as a Spark Connect client of the cluster, under the serverless rules of the default
    environment: no caching, documented confs only, UDFs that import fare_assets from the task wheel."""
    from pyspark.sql import SparkSession
    from pyspark.sql.connect import catalog, conf, dataframe

    from fare_assets.databricks.environment import DEFAULT_ENVIRONMENT_VERSION, environment
    from fare_assets.databricks.wheel import build_task_wheel
    from fare_assets_tests.databricks.cluster_site.serverless_rules import refuse_caching, refuse_confs
    from fare_assets_tests.databricks.serverless_manifest import ALLOWED_CONFS

    env = environment(DEFAULT_ENVIRONMENT_VERSION)
    wheel = build_task_wheel()
    path = tmp_path_factory.mktemp("wheel") / wheel.filename
    path.write_bytes(wheel.content)
    session = SparkSession.builder.remote(cluster.session([path] if env.udf_custom_libraries else [])).getOrCreate()
    classes = (dataframe.DataFrame, catalog.Catalog, conf.RuntimeConf)
    saved = [(cls, dict(vars(cls))) for cls in classes]
    if not env.dataframe_cache:
        refuse_caching(dataframe)
        refuse_caching(catalog)
    refuse_confs(conf, ALLOWED_CONFS)
    yield session
    for cls, attributes in saved:  # the rest of the test session sees Spark Connect as it is
        for name in ("cache", "persist", "unpersist", "cacheTable", "uncacheTable", "clearCache", "set"):
            if name in attributes:
                setattr(cls, name, attributes[name])
    session.stop()
