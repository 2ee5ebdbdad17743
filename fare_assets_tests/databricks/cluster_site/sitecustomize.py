"""The fake serverless runtime, as a job's Python sees it before the job's code runs.

Loaded by the job processes of the fake workspace (this folder is on their PYTHONPATH), like the
Databricks runtime's own start-up code. What it does, and why it cannot be done elsewhere:
- The project's checkout is not there: a job imports fare_assets from the wheel its environment
  installed, nothing else (the editable install of this virtualenv is hidden).
- Serverless rules the local Spark Connect server does not have, per environment version
  (FAKE_SERVERLESS_* variables, set by fake_jobs from the run's `environment_version`):
  DataFrame caching, and Spark confs outside the allowed list. Both fail on the client, with
  Databricks' messages, because OSS Spark Connect has no server-side switch for them.
- MLflow: the workspace URIs `databricks` (tracking) and `databricks-uc` (registry) lead to a local
  sqlite store, because the real ones need the workspace's MLflow service and, for the UC registry,
  cloud storage credentials. Its experiments follow the workspace's rules: the name is an absolute
  workspace path whose parent folder must exist in the fake workspace (checked over its REST API).
  Its model registry follows Unity Catalog's: a model version without a signature of both inputs
  and outputs is refused, by the check MLflow's UC client itself runs before registering.
Patches run right after the module is first imported, so a job that never uses it pays nothing.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import tempfile
import importlib.util
import os
import sys

from serverless_rules import refuse_caching, refuse_confs

sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable___fare_assets")]


def _workspace_mlflow(mlflow) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store, artifacts = os.environ["FAKE_CLUSTER_MLFLOW_URI"], os.environ["FAKE_CLUSTER_MLFLOW_ARTIFACTS"]

    def route(uri):
        return store if isinstance(uri, str) and uri.split(":")[0] in ("databricks", "databricks-uc") else uri

    set_tracking_uri, set_registry_uri = mlflow.set_tracking_uri, mlflow.set_registry_uri
    create_experiment = SqlAlchemyStore.create_experiment

    class MlflowClient(mlflow.MlflowClient):
        def __init__(self, tracking_uri=None, registry_uri=None):
            super().__init__(route(tracking_uri), route(registry_uri))

    def create_workspace_experiment(self, name, artifact_location=None, tags=None):
        # https://docs.databricks.com/aws/en/mlflow/experiments: a workspace experiment is a workspace
        # object named by its absolute path; the parent folder must exist
        # ("RESOURCE_DOES_NOT_EXIST: Parent directory ... does not exist", databricks-demos/dbdemos#155).
        if not name.startswith(("/Users/", "/Shared/")):
            raise MlflowException(f"Got an invalid experiment name '{name}'. An experiment name must be an absolute "
                                  "path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'.",
                                  error_code="INVALID_PARAMETER_VALUE")
        parent = name.rsplit("/", 1)[0]
        if not _is_workspace_folder(parent):
            raise MlflowException(f"Parent directory {parent} does not exist.", error_code="RESOURCE_DOES_NOT_EXIST")
        location = artifact_location or f"{artifacts}/{hashlib.sha256(name.encode()).hexdigest()[:12]}"
        return create_experiment(self, name, location, tags)

    _unity_catalog_models(mlflow)
    mlflow.set_tracking_uri = lambda uri: set_tracking_uri(route(uri))
    mlflow.set_registry_uri = lambda uri: set_registry_uri(route(uri))
    mlflow.MlflowClient = mlflow.tracking.MlflowClient = MlflowClient
    SqlAlchemyStore.create_experiment = create_workspace_experiment


def _unity_catalog_models(mlflow) -> None:
    """Every model registered on the fake workspace goes to Unity Catalog (the tasks use `databricks-uc`).
    MLflow's UC client refuses a model version without a full signature before any call
    (mlflow/store/_unity_catalog/registry/rest_store.py: create_model_version -> _validate_model_signature:
    "All models in the Unity Catalog must be logged with a model signature containing both input and
    output type specifications"); its own check runs here, on the same downloaded model."""
    from mlflow.store._unity_catalog.registry.rest_store import UcModelRegistryStore
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore

    create_model_version = RegistryStore.create_model_version

    def create_uc_model_version(self, name, source, run_id=None, tags=None, run_link=None, description=None,
                                local_model_path=None, model_id=None):
        with tempfile.TemporaryDirectory() as folder:
            local = local_model_path or mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=folder)
            UcModelRegistryStore._validate_model_signature(None, local)
        return create_model_version(self, name, source, run_id=run_id, tags=tags, run_link=run_link,
                                    description=description, local_model_path=local_model_path, model_id=model_id)

    RegistryStore.create_model_version = create_uc_model_version


def _is_workspace_folder(path: str) -> bool:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound

    try:
        return WorkspaceClient().workspace.get_status(path).object_type.value == "DIRECTORY"
    except NotFound:
        return False


class _AfterImport(importlib.abc.MetaPathFinder):
    """Run a patch on a module right after its first import."""

    def __init__(self, patches):
        self.patches = dict(patches)

    def find_spec(self, name, path=None, target=None):
        patch = self.patches.pop(name, None)
        if patch is None:
            return None
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


_patches = {}
if os.environ.get("FAKE_SERVERLESS_CACHE") == "false":
    _patches["pyspark.sql.connect.dataframe"] = _patches["pyspark.sql.connect.catalog"] = refuse_caching
if os.environ.get("FAKE_SERVERLESS_CONFS"):
    _patches["pyspark.sql.connect.conf"] = lambda module: refuse_confs(module, os.environ["FAKE_SERVERLESS_CONFS"].split(","))
if os.environ.get("FAKE_CLUSTER_MLFLOW_URI"):
    _patches["mlflow"] = _workspace_mlflow
if _patches:
    sys.meta_path.insert(0, _AfterImport(_patches))
