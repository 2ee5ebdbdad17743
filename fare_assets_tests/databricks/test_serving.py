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
