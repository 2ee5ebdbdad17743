"""What the fake Databricks cluster's Python runtime does before a job's code runs.

Loaded by the job processes of `FakeCluster` (this folder is on their PYTHONPATH), like the
Databricks runtime's own start-up code:
- Spark: the job attaches to the cluster's running driver JVM instead of starting one (the
  runtime's `SparkSession.builder.getOrCreate()` returns the cluster's session), so every job
  sees the same metastore, and no job pays Spark's start-up.
- MLflow: the workspace URIs `databricks` (tracking) and `databricks-uc` (registry) lead to the
  cluster's local MLflow store, and new experiments keep their artifacts in the cluster's folder.
Both are patched right after the module is first imported, so a job that never uses them
pays nothing.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import os
import sys


def _attach_to_the_cluster_jvm(context_module) -> None:
    def existing_context(self, jconf):
        jvm = self._jvm
        return jvm.org.apache.spark.api.java.JavaSparkContext.fromSparkContext(jvm.org.apache.spark.SparkContext.getOrCreate())

    context_module.SparkContext._initialize_context = existing_context


def _route_workspace_mlflow(mlflow) -> None:
    store, artifacts = os.environ["FAKE_CLUSTER_MLFLOW_URI"], os.environ["FAKE_CLUSTER_MLFLOW_ARTIFACTS"]

    def route(uri):
        return store if isinstance(uri, str) and uri.split(":")[0] in ("databricks", "databricks-uc") else uri

    set_tracking_uri, set_registry_uri, set_experiment = mlflow.set_tracking_uri, mlflow.set_registry_uri, mlflow.set_experiment

    class MlflowClient(mlflow.MlflowClient):
        def __init__(self, tracking_uri=None, registry_uri=None):
            super().__init__(route(tracking_uri), route(registry_uri))

    def set_experiment_in_workspace(experiment_name=None, experiment_id=None):
        if experiment_name and mlflow.get_experiment_by_name(experiment_name) is None:
            folder = hashlib.sha256(experiment_name.encode()).hexdigest()[:12]
            mlflow.create_experiment(experiment_name, artifact_location=f"{artifacts}/{folder}")
        return set_experiment(experiment_name=experiment_name, experiment_id=experiment_id)

    mlflow.set_tracking_uri = lambda uri: set_tracking_uri(route(uri))
    mlflow.set_registry_uri = lambda uri: set_registry_uri(route(uri))
    mlflow.set_experiment = set_experiment_in_workspace
    mlflow.MlflowClient = mlflow.tracking.MlflowClient = MlflowClient


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
if os.environ.get("PYSPARK_GATEWAY_PORT"):
    _patches["pyspark.core.context"] = _attach_to_the_cluster_jvm
if os.environ.get("FAKE_CLUSTER_MLFLOW_URI"):
    _patches["mlflow"] = _route_workspace_mlflow
if _patches:
    sys.meta_path.insert(0, _AfterImport(_patches))
