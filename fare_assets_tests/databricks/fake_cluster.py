"""The serverless compute behind the fake workspace: one warm Spark Connect server and a workspace MLflow.

`FakeCluster` starts a driver process: a local Spark with the Spark Connect server plugin (the
connect jar ships in the pyspark wheel), holding the workspace's tables in its metastore. Job runs
and tests are Spark Connect clients of it, as jobs on serverless are: driver-only APIs
(`sparkContext`, RDDs, `_jvm`) fail as they do there. Each run gets its own server-side session
(`session(...)`); where the run's environment version lets UDFs import custom libraries, the run's
wheels are added to that session's Python includes, and only then can its UDF workers import
`fare_assets` (udf_site/sitecustomize.py hides the checkout from them).
`env` is what every job process gets besides that: the workspace MLflow (`databricks` /
`databricks-uc`) in a local sqlite store, see cluster_site/sitecustomize.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
UDF_SITE = Path(__file__).with_name("udf_site")
# What `SELECT current_version().dbr_version` answers on serverless; MLflow's spark_udf reads it
# (mlflow/utils/databricks_utils.py get_dbconnect_udf_sandbox_info: "version is like
# '15.4.x-scala2.12' (legacy) or '18.x-aarch64-photon-scala2'") and needs >= 15.4.
DBR_VERSION = "17.3.x-scala2.13"


def extra_path() -> list[str]:
    """Entries of this interpreter's PYTHONPATH (packages a developer put beside the venv)."""
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


class FakeCluster:
    """`with FakeCluster(root) as cluster:`; `cluster.remote`, `cluster.env`, `cluster.session(...)`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.mlflow_uri = f"sqlite:///{self.root / 'mlflow.db'}"
        self.remote = ""
        self.env: dict[str, str] = {}
        self._driver: subprocess.Popen | None = None

    def __enter__(self) -> FakeCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(UDF_SITE), *extra_path()])}
        with open(self.root / "driver.log", "wb") as log:
            self._driver = subprocess.Popen([sys.executable, __file__, str(self.root), str(port)], cwd=self.root,
                                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            # Meanwhile, the workspace's MLflow store (creating its tables takes seconds).
            from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(self.mlflow_uri)
            if not self._driver.stdout.readline():
                raise RuntimeError(f"the fake cluster's driver did not start: "
                                   f"{(self.root / 'driver.log').read_text()[-3000:]}")
        except BaseException:
            self.__exit__()
            raise
        self.remote = f"sc://127.0.0.1:{port}"
        self.env = {
            # One thread per job: OpenMP's spinning threads (scikit-learn's boosting) fighting the
            # driver JVM for two cores make a 4 s model search take minutes.
            "OMP_NUM_THREADS": "1",
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

    def session(self, udf_libraries: list[Path] = ()) -> str:
        """A new server-side session for one run, its UDF workers able to import `udf_libraries`."""
        from pyspark.sql.connect.client import SparkConnectClient

        remote = f"{self.remote}/;session_id={uuid.uuid4()}"
        if udf_libraries:
            client = SparkConnectClient(remote)
            folder = self.root / "udf-libraries" / str(uuid.uuid4())
            folder.mkdir(parents=True)
            for wheel in udf_libraries:
                # A pure wheel is a zip archive; Spark Connect takes Python includes as .zip/.egg/.py.
                included = shutil.copyfile(wheel, folder / (Path(wheel).stem + ".zip"))
                client.add_artifacts(str(included), pyfile=True, archive=False, file=False)
            client.close()
        return remote

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


def run_driver(root: Path, port: int) -> None:
    """The cluster's driver: Spark with the Connect server on `port`, until stdin closes."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]").appName("fake-databricks-serverless")
        .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
        .config("spark.connect.grpc.binding.address", "127.0.0.1")
        .config("spark.connect.grpc.binding.port", str(port))
        # Each client session has its own artifacts (Python includes), as a serverless job's session does.
        .config("spark.sql.artifact.isolation.enabled", "true")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")  # serverless default: "Etc/UTC"
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        # C1 only and the serial collector: the JVM lives for one test session on tiny tables, where the
        # optimising compiler's and parallel GC's threads cost more CPU than they save (measured on the
        # spark tests alone: 186-196 CPU-seconds with the defaults, 163-167 with these; wall unchanged).
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={root / 'derby'} -Duser.timezone=UTC "
                "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    # Databricks' current_version() (a built-in there), as a persistent SQL function here.
    spark.sql("CREATE FUNCTION IF NOT EXISTS spark_catalog.default.current_version() "
              f"RETURNS STRUCT<dbr_version: STRING> RETURN named_struct('dbr_version', '{DBR_VERSION}')")
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()
    spark.stop()


if __name__ == "__main__":
    run_driver(Path(sys.argv[1]), int(sys.argv[2]))
