"""Databricks Model Serving: the endpoint serves the Champion's explicit version, verified, or keeps the old one."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient

from fare_assets.databricks.serving import DatabricksEndpoint, DeployError
from fare_assets.settings import Settings

VOLUME = "/Volumes/main/ml_serving/fare_assets"


@pytest.fixture
def endpoint(workspace, tmp_path) -> DatabricksEndpoint:
    settings = Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": VOLUME,
                                  "FARE_ASSETS_HOME": str(tmp_path)})
    return DatabricksEndpoint(WorkspaceClient(), settings, poll_seconds=0.01, timeout_seconds=5)


def served(workspace) -> list[str]:
    return [e["entity_version"] for e in workspace.serving.endpoints["ml_serving_fare_predictor_endpoint"].config["served_entities"]]


def test_first_deploy_creates_the_endpoint_with_the_explicit_version(endpoint, workspace):
    result = endpoint.deploy(3)
    assert (result.version, result.previous_version, result.started) == (3, None, True)
    assert result.url == f"{workspace.host}/serving-endpoints/ml_serving_fare_predictor_endpoint/invocations"
    [create] = workspace.requests_to("POST", "/api/2.0/serving-endpoints")
    [entity] = create.body["config"]["served_entities"]
    assert entity["entity_name"] == "main.ml_serving.fare_predictor"
    assert entity["entity_version"] == "3"
    assert result.verify_latency_ms > 0


def test_redeploy_updates_the_config_to_the_new_version(endpoint, workspace):
    endpoint.deploy(1)
    result = endpoint.deploy(2)
    assert (result.version, result.previous_version, result.started) == (2, 1, False)
    assert served(workspace) == ["2"]
    assert endpoint.status()["served_version"] == 2


def test_deploying_the_served_version_changes_nothing(endpoint, workspace):
    endpoint.deploy(1)
    endpoint.deploy(1)
    assert not workspace.requests_to("PUT", "/api/2.0/serving-endpoints/")


@pytest.mark.parametrize("failed_update", ["pending_config_kept", "pending_config_dropped"])
def test_a_failed_update_keeps_the_old_config_and_names_the_reason(endpoint, workspace, failed_update):
    endpoint.deploy(1)
    workspace.serving.failed_update = failed_update
    workspace.serving.failing_versions["2"] = "Container build failed: no matching distribution for skops"
    with pytest.raises(DeployError, match="no matching distribution for skops.*keeps serving version 1"):
        endpoint.deploy(2)
    assert served(workspace) == ["1"]
    # The old version still answers, and the next deploy of it succeeds despite the failed update.
    assert endpoint.deploy(1).version == 1


def test_a_failed_update_without_any_reason_says_where_to_look(endpoint, workspace):
    endpoint.deploy(1)
    workspace.serving.failed_update = "dropped_without_build_logs"
    workspace.serving.failing_versions["2"] = "Container build failed"
    with pytest.raises(DeployError) as failure:
        endpoint.deploy(2)
    assert "config update UPDATE_FAILED" in str(failure.value) and "keeps serving version 1" in str(failure.value)
    assert "no reason" in str(failure.value) and endpoint.page_url in str(failure.value)
    assert served(workspace) == ["1"]


def test_a_cold_start_from_zero_is_reported_apart_from_the_endpoint_latency(endpoint, workspace):
    endpoint.deploy(1)
    workspace.serving.scale_to_zero("ml_serving_fare_predictor_endpoint")
    workspace.serving.cold_start_seconds = 1.5
    result = endpoint.deploy(1)  # nothing to change, but the deploy still proves the endpoint answers
    assert result.version == 1 and result.first_query_ms >= 1500
    assert result.verify_latency_ms < 750  # the warm endpoint's latency, not the wake-up


def test_a_version_that_answers_badly_is_rolled_back(endpoint, workspace):
    endpoint.deploy(1)
    workspace.serving.predictor = lambda name, version, frame: [float("nan")] if version == "2" else [9.0]
    with pytest.raises(DeployError, match="rolled back to version 1"):
        endpoint.deploy(2)
    assert served(workspace) == ["1"]


def test_status_of_a_missing_endpoint(endpoint):
    assert endpoint.status() == {"endpoint": "ml_serving_fare_predictor_endpoint", "exists": False}


@pytest.mark.filterwarnings("ignore:X has feature names")  # pyfunc passes a frame; we fit on arrays
def test_model_serving_drops_missing_optional_zones_so_zone_models_stay_off_on_databricks(tmp_path):
    """Why FARE_ASSETS_LOCATION_FEATURES=auto is off on Databricks: Model Serving runs the model through
    MLflow's pyfunc schema enforcement, which drops a missing optional column instead of filling it,
    so a zone model would fail the exemplar's six-field request there. If MLflow ever fills them,
    this test fails and auto can be on for Databricks too."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    import pandas as pd

    from fare_assets.ml.features import feature_columns
    from fare_assets.ml.training import SKOPS_TRUSTED_TYPES, build_model
    from fare_assets.tasks.train_model import request_signature

    columns = feature_columns(include_location=True)
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0.5, 10, 400), rng.integers(0, 24, 400), rng.integers(1, 8, 400),
                         np.full(400, 3), np.zeros(400), np.zeros(400), rng.integers(1, 30, (400, 2))]).astype(float)
    model = build_model(columns, {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20}).fit(X, 2.5 * X[:, 0])
    example = pd.DataFrame(X[:3], columns=columns)
    signature = request_signature(example, pd.Series(model.predict(X[:3]), name="prediction"), optional_locations=True)
    mlflow.sklearn.save_model(model, tmp_path / "model", signature=signature, skops_trusted_types=SKOPS_TRUSTED_TYPES)
    served = mlflow.pyfunc.load_model(str(tmp_path / "model"))

    assert len(served.predict(example)) == 3
    with pytest.raises(ValueError, match="X has 6 features, but ColumnTransformer is expecting 8"):
        served.predict(example[feature_columns()])
    required = request_signature(example, pd.Series([1.0] * 3, name="prediction"), optional_locations=False)
    assert required.inputs.optional_input_names() == []  # what the Databricks target registers
