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


def test_a_failed_update_keeps_the_old_config_and_names_the_reason(endpoint, workspace):
    endpoint.deploy(1)
    workspace.serving.failing_versions["2"] = "Container build failed: no matching distribution for skops"
    with pytest.raises(DeployError, match="no matching distribution for skops.*keeps serving version 1"):
        endpoint.deploy(2)
    assert served(workspace) == ["1"]
    # The old version still answers, and the next deploy of it succeeds despite the failed update.
    assert endpoint.deploy(1).version == 1


def test_a_version_that_answers_badly_is_rolled_back(endpoint, workspace):
    endpoint.deploy(1)
    workspace.serving.predictor = lambda name, version, frame: [float("nan")] if version == "2" else [9.0]
    with pytest.raises(DeployError, match="rolled back to version 1"):
        endpoint.deploy(2)
    assert served(workspace) == ["1"]


def test_status_of_a_missing_endpoint(endpoint):
    assert endpoint.status() == {"endpoint": "ml_serving_fare_predictor_endpoint", "exists": False}
