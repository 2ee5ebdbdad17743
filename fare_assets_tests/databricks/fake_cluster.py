"""The compute behind the fake workspace's job runs: one warm Spark driver, a metastore and MLflow.

`FakeCluster` starts a driver process (a local Spark session, like a Databricks cluster's
driver) that holds the workspace's tables in its metastore, and gives `FakeWorkspace` the
environment of its job runs (`cluster_env`): each run's Python attaches to that driver's JVM
through Py4J, as a job's Python does on Databricks, and finds the workspace MLflow
(`databricks` / `databricks-uc`) in a local sqlite store (see cluster_site/sitecustomize.py).
`predictor()` is a `FakeServing.predictor` that answers with the served version loaded from
that registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SITE = Path(__file__).with_name("cluster_site")


class FakeCluster:
    """`with FakeCluster(root, tables={name: frame}) as cluster:`; `cluster.env`, `cluster.predictor()`."""

    def __init__(self, root: Path, tables: dict[str, pd.DataFrame] | None = None):
        self.root = Path(root)
        self.tables = tables or {}
        self.mlflow_uri = f"sqlite:///{self.root / 'mlflow.db'}"
        self.env: dict[str, str] = {}
        self._driver: subprocess.Popen | None = None

    def __enter__(self) -> FakeCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        sources = {}
        for name, frame in self.tables.items():
            sources[name] = str(self.root / "sources" / f"{name}.parquet")
            Path(sources[name]).parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(sources[name], index=False)
        with open(self.root / "driver.log", "wb") as log:
            self._driver = subprocess.Popen(
                [sys.executable, "-m", "fare_assets_tests.databricks.fake_cluster", str(self.root), json.dumps(sources)],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            )
        try:
            # Meanwhile, the workspace's MLflow store (creating its tables takes seconds).
            from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(self.mlflow_uri)
            line = self._driver.stdout.readline()
            if not line:
                raise RuntimeError(f"the fake cluster's driver did not start: "
                                   f"{(self.root / 'driver.log').read_text()[-3000:]}")
        except BaseException:
            self.__exit__()
            raise
        gateway = json.loads(line)
        self.env = {
            "PYTHONPATH": str(SITE),
            "PYSPARK_GATEWAY_PORT": str(gateway["port"]), "PYSPARK_GATEWAY_SECRET": gateway["secret"],
            "PYSPARK_PYTHON": sys.executable,
            # One thread per job: OpenMP's spinning threads (scikit-learn's boosting) fighting the
            # driver JVM and anything else for two cores make a 4 s model search take minutes.
            "OMP_NUM_THREADS": "1",
            # The runtime says serverless, but this driver is classic Spark, not Spark Connect: no
            # UDF sandbox to upload the model to (spark.addArtifact, current_version()). spark_udf's
            # executors load it from the driver's download instead, as on a local-mode cluster.
            "_MLFLOW_SPARK_UDF_SERVERLESS_SKIP_DBCONNECT_ARTIFACT": "true",
            "FAKE_CLUSTER_MLFLOW_URI": self.mlflow_uri,
            "FAKE_CLUSTER_MLFLOW_ARTIFACTS": (self.root / "mlflow-artifacts").as_uri(),
        }
        return self

    def __exit__(self, *exc) -> None:
        if self._driver and self._driver.poll() is None:
            self._driver.stdin.close()
            try:
                self._driver.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()

    def predictor(self):
        """Answer a serving query with the served entity's registered version, loaded from the cluster's registry."""
        from mlflow import MlflowClient
        import mlflow.pyfunc

        loaded = {}

        def predict(entity_name: str, entity_version: str, frame: pd.DataFrame) -> list[float]:
            if (entity_name, entity_version) not in loaded:
                client = MlflowClient(self.mlflow_uri, self.mlflow_uri)
                location = client.get_model_version_download_uri(entity_name, entity_version)
                loaded[entity_name, entity_version] = mlflow.pyfunc.load_model(location)
            return [float(p) for p in loaded[entity_name, entity_version].predict(frame)]

        return predict


def run_driver(root: Path, sources: dict[str, str]) -> None:
    """The cluster's driver: a Spark session holding the tables, until stdin closes."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]").appName("fake-databricks-cluster")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={root / 'derby'} -Duser.timezone=UTC")
        .getOrCreate()
    )
    for name, path in sources.items():
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name.rsplit('.', 1)[0]}")
        spark.createDataFrame(pd.read_parquet(path)).write.mode("overwrite").saveAsTable(name)
    gateway = spark.sparkContext._gateway
    parameters = getattr(gateway, "java_parameters", None) or gateway.gateway_parameters
    print(json.dumps({"port": parameters.port, "secret": parameters.auth_token}), flush=True)
    sys.stdin.read()
    spark.stop()


if __name__ == "__main__":
    run_driver(Path(sys.argv[1]), json.loads(sys.argv[2]))
