"""A serverless job that checks, on the user's workspace, what the tests can only emulate.

`entry.py databricks.probe --output /Volumes/.../probe.json --settings <json>` (fare-assets doctor):
each check is one assumption about serverless compute; the results go to the volume as JSON, for
the doctor's table. Run through Pipes (the runner's tests), it reports the same as metadata.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version

from fare_assets.databricks.dependencies import FROM_BASE, INSTALLED
from fare_assets.databricks.wheel import PACKAGE_DIR


def installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def _check(assumption: str, action, fix: str) -> dict:
    try:
        return {"assumption": assumption, "ok": True, "detail": str(action()), "fix": ""}
    except Exception as error:  # noqa: BLE001 - every failure is a finding of the probe
        return {"assumption": assumption, "ok": False, "detail": f"{type(error).__name__}: {error}"[:300], "fix": fix}


def _udf_imports_the_wheel() -> str:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import pandas_udf

    spark = SparkSession.builder.getOrCreate()  # first: pandas_udf picks Spark Connect from the session

    @pandas_udf("string")
    def where(ids):
        import fare_assets

        return ids.map(lambda _: fare_assets.__file__)

    return spark.range(1).select(where("id")).first()[0]


def _versions(expected: dict[str, str]) -> str:
    found = {name: installed(name) for name in expected}
    wrong = {n: f"{found[n]} (expected {v})" for n, v in expected.items() if found[n] != v}
    if wrong:
        raise RuntimeError(", ".join(f"{n} {w}" for n, w in wrong.items()))
    return ", ".join(f"{n} {v}" for n, v in found.items())


def _experiment(settings) -> str:
    import mlflow

    from fare_assets.backends.databricks import DatabricksTarget

    registry = DatabricksTarget(settings).registry()
    registry.connect()
    return mlflow.get_experiment_by_name(registry._experiment()).name


def _uc_model_registration(settings) -> str:
    """Register a one-feature model with a full signature where the tasks register theirs, then delete it.

    Unity Catalog refuses a version whose signature lacks inputs or outputs (MLflow's UC client checks
    before any call: mlflow/store/_unity_catalog/registry/rest_store.py `_validate_model_signature`), and
    it needs CREATE_MODEL on the schema plus cloud storage for the artifacts: only a real registration
    shows all three."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyRegressor

    from fare_assets.backends.databricks import DatabricksTarget

    client = DatabricksTarget(settings).registry().connect()
    name = f"{settings.catalog}.{settings.schema}.fare_assets_probe"
    trips = pd.DataFrame({"trip_distance": [1.0, 2.5]})
    model = DummyRegressor().fit(trips, [6.0, 9.5])
    try:
        with mlflow.start_run(run_name="fare-assets doctor probe"):
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name=name,
                signature=infer_signature(trips, pd.Series(model.predict(trips), name="prediction")))
        return f"registered {name} version {info.registered_model_version} with a signature"
    finally:
        try:
            client.delete_registered_model(name)
        except Exception:  # noqa: BLE001 - nothing was registered, or the failure above says why
            pass


def run_checks(settings, expected: dict[str, str], python: str) -> list[dict]:
    return [
        _check("python_file is an absolute /Users/... workspace path", lambda: sys.argv[0] or "ran",
               "report the run page: the entry script did not start"),
        _check("the job environment installs the task wheel from the volume",
               lambda: PACKAGE_DIR, "check READ_VOLUME on the volume and the wheel path in the run's environment"),
        _check(f"the environment's Python is {python}", lambda: _same(platform.python_version(), python),
               "set FARE_ASSETS_DATABRICKS_ENVIRONMENT to the version whose Python this is"),
        _check("package versions are the ones the job environment asked for", lambda: _versions(expected),
               "update fare_assets/databricks/environment.py from the environment's release notes"),
        _check("a Python UDF imports the task wheel", _udf_imports_the_wheel,
               "use environment version 3 or later (custom libraries in UDFs need Databricks Connect >= 16.4)"),
        _check("the experiment folder is created and the experiment set", lambda: _experiment(settings),
               "grant the job's identity CAN MANAGE on /Shared/fare_assets or create the folder"),
        _check("a model with a signature registers in Unity Catalog", lambda: _uc_model_registration(settings),
               f"grant CREATE_MODEL on {settings.catalog}.{settings.schema}; check the schema's storage location"),
    ]


def _same(found: str, expected: str) -> str:
    if not found.startswith(expected):
        raise RuntimeError(f"Python {found}")
    return found


def main() -> None:
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    if "--output" in args:
        from fare_assets.settings import Settings

        settings = Settings.from_env(json.loads(args["--settings"]))
        results = run_checks(settings, json.loads(args.get("--expect", "{}")), args.get("--python", ""))
        with open(args["--output"], "w") as out:
            json.dump(results, out)
        return
    from fare_assets.tasks.pipes import open_task_pipes

    with open_task_pipes() as context:
        context.log.info("fare-assets probe running")
        time.sleep(float(context.extras.get("params", {}).get("sleep_seconds", 0)))
        context.report_asset_materialization(metadata={
            "python": platform.python_version(),
            "task_code": str(PACKAGE_DIR / "__init__.py"),
            **{f"version_{name}": installed(name) for name in [*INSTALLED, *FROM_BASE]},
            "echo": {"raw_value": context.extras.get("params", {}), "type": "json"},
        })


if __name__ == "__main__":
    main()
