"""Databricks Model Serving, with the shape of the local endpoint manager: deploy(version), status().

The endpoint `<schema>_<model_name>_endpoint` serves one explicit registered version. A config
update that Databricks cannot apply leaves the old config serving; we then fail naming the
reason, wherever Databricks left it (the failed pending config, or the served model's build
logs once the pending config is gone). A new config that deploys but does not answer a test
query is rolled back. The served entity scales to zero when idle, so the first test query may
wait out a cold start: it is reported on its own, and the second query gives the latency.
"""

from __future__ import annotations

import math
import time

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError, NotFound
from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput, ServingEndpointDetailed

from fare_assets.ml.features import feature_columns
from fare_assets.settings import Settings
from fare_assets.serving.deploy_result import DeployResult

# One valid request in the endpoint's contract: a 2.5 mile trip on a Tuesday morning rush hour.
TEST_RECORD = {"trip_distance": 2.5, "pickup_hour": 8, "pickup_dayofweek": 3, "pickup_month": 1,
               "is_weekend": 0, "is_rush_hour": 1, "pickup_location_id": 161, "dropoff_location_id": 236}


class DeployError(RuntimeError):
    """The endpoint could not be moved to the requested version; the message says why and what serves."""


class DatabricksEndpoint:
    def __init__(self, client: WorkspaceClient, settings: Settings, *, workload_size: str = "Small",
                 poll_seconds: float = 10.0, timeout_seconds: float = 3600.0):
        self.client, self.settings = client, settings
        self.name = settings.endpoint_name
        self.workload_size, self.poll_seconds, self.timeout_seconds = workload_size, poll_seconds, timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs) -> DatabricksEndpoint:
        return cls(WorkspaceClient(), settings, **kwargs)

    @property
    def url(self) -> str:
        return f"{self.client.config.host.rstrip('/')}/serving-endpoints/{self.name}/invocations"

    @property
    def page_url(self) -> str:
        """The endpoint's description, read with GET (the invocations URL takes POST): `GET
        /api/2.0/serving-endpoints/{name}`, docs.databricks.com/machine-learning/model-serving/manage-serving-endpoints.html"""
        return f"{self.client.config.host.rstrip('/')}/api/2.0/serving-endpoints/{self.name}"

    def _get(self) -> ServingEndpointDetailed | None:
        try:
            return self.client.serving_endpoints.get(self.name)
        except NotFound:
            return None

    def served_version(self) -> int | None:
        endpoint = self._get()
        entities = endpoint.config.served_entities if endpoint and endpoint.config else None
        return int(entities[0].entity_version) if entities else None

    def status(self) -> dict:
        endpoint = self._get()
        if endpoint is None:
            return {"endpoint": self.name, "exists": False}
        return {"endpoint": self.name, "exists": True, "url": self.url, "served_version": self.served_version(),
                "ready": endpoint.state.ready.value if endpoint.state and endpoint.state.ready else None,
                "config_update": endpoint.state.config_update.value if endpoint.state and endpoint.state.config_update else None}

    def deploy(self, version: int) -> DeployResult:
        endpoint = self._get()
        if endpoint is not None:
            endpoint = self._wait_not_updating()  # never race another deployment's update
        previous = self.served_version() if endpoint is not None else None
        ready = endpoint is not None and endpoint.state.ready and endpoint.state.ready.value == "READY"
        if endpoint is None:
            self.client.serving_endpoints.create(name=self.name, config=EndpointCoreConfigInput(
                name=self.name, served_entities=[self._entity(version)]))
        elif previous != version or not ready:
            self.client.serving_endpoints.update_config(name=self.name, served_entities=[self._entity(version)])
        self._settle(version, previous)
        try:
            first_query_ms, latency = self.verify(), self.verify()
        except Exception as error:
            raise DeployError(self._rollback(version, previous, f"the test query failed: {error}")) from error
        return DeployResult(self.url, version, previous, endpoint is None, latency, page_url=self.page_url,
                            first_query_ms=first_query_ms)

    def verify(self) -> float:
        """Send one valid request; return its latency in milliseconds.

        Scaled to zero, the endpoint answers only after a cold start: "latency is greater and capacity
        is not guaranteed when scaled to zero" (docs.databricks.com/aws/en/machine-learning/model-serving/glossary).
        The SDK waits that out: a read timeout (60 s) is retried until `retry_timeout_seconds` (300 s by
        default) has passed (databricks/sdk/_base_client.py `_is_retryable`, databricks/sdk/retries.py)."""
        record = {c: TEST_RECORD[c] for c in feature_columns(self.settings.with_locations)}
        started = time.perf_counter()
        answer = self.client.serving_endpoints.query(self.name, dataframe_records=[record])
        latency = (time.perf_counter() - started) * 1000
        predictions = answer.predictions or []
        if len(predictions) != 1 or not math.isfinite(float(predictions[0])):
            raise DeployError(f"{self.name} answered {predictions!r} to one test trip; expected one finite fare")
        return latency

    def _entity(self, version: int) -> ServedEntityInput:
        return ServedEntityInput(
            name=f"{self.settings.model_name}-{version}", entity_name=self.settings.registered_model_name,
            entity_version=str(version), workload_size=self.workload_size, scale_to_zero_enabled=True)

    def _wait_not_updating(self) -> ServingEndpointDetailed:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            endpoint = self.client.serving_endpoints.get(self.name)
            update = endpoint.state.config_update.value if endpoint.state and endpoint.state.config_update else None
            if update != "IN_PROGRESS":
                return endpoint
            if time.monotonic() > deadline:
                raise DeployError(f"{self.name} is still updating after {self.timeout_seconds:.0f} s")
            time.sleep(self.poll_seconds)

    def _settle(self, version: int, previous: int | None) -> None:
        endpoint = self._wait_not_updating()
        if self.served_version() != version or endpoint.state.ready.value != "READY":
            keeps = f"it keeps serving version {previous}" if previous is not None else "it serves nothing"
            raise DeployError(f"{self.name} did not move to version {version}: "
                              f"{self._failure_reason(endpoint, version)}; {keeps}")

    def _failure_reason(self, endpoint: ServingEndpointDetailed, version: int) -> str:
        """Why the update failed: the failed pending config's messages, else the end of the served model's
        build logs (`GET .../served-models/{name}/build-logs`, SDK `serving_endpoints.build_logs`). The SDK
        promises only that the config_update state "informs the user ... if the update failed"
        (databricks/sdk/service/serving.py EndpointStateConfigUpdate), not that the pending config stays."""
        update = endpoint.state.config_update.value if endpoint.state and endpoint.state.config_update else "unknown"
        entities = endpoint.pending_config.served_entities if endpoint.pending_config else None
        messages = [e.state.deployment_state_message for e in entities or [] if e.state and e.state.deployment_state_message]
        if not messages:
            messages = self._build_log_tail(self._entity(version).name)
        if not messages:
            return (f"config update {update}, and Databricks kept no reason (no pending config, no build logs); "
                    f"see the endpoint's events at {self.page_url}")
        return f"config update {update} ({'; '.join(messages)})"

    def _build_log_tail(self, served_model_name: str, lines: int = 3) -> list[str]:
        try:
            logs = self.client.serving_endpoints.build_logs(self.name, served_model_name).logs or ""
        except DatabricksError:
            return []
        return [line.strip() for line in logs.splitlines() if line.strip()][-lines:]

    def _rollback(self, version: int, previous: int | None, reason: str) -> str:
        if previous is None or previous == version:
            return f"{self.name} serves version {version} but {reason}"
        self.client.serving_endpoints.update_config(name=self.name, served_entities=[self._entity(previous)])
        self._wait_not_updating()
        return f"{self.name} was rolled back to version {previous}: version {version} deployed but {reason}"


