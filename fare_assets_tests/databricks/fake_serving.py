"""The fake workspace's Model Serving API: create, get, update-config, build logs and query.

A config update is pending for `update_polls` reads of the endpoint, then it either replaces
the served config or, for a version listed in `failing_versions`, fails and leaves the old
config serving (as Databricks does). Where the reason is then found varies, so the fake covers
each case (`failed_update`): on the failed pending config, or the pending config dropped and
the reason only in the served model's build logs, or dropped with no build logs at all. The SDK's
docstring promises only that the `config_update` state "informs the user ... if the update failed"
(databricks/sdk/service/serving.py, EndpointStateConfigUpdate); no page says the pending config stays.

Scale to zero: an endpoint whose served entity has `scale_to_zero_enabled` can be scaled to zero
(`scale_to_zero(name)` stands for the idle time passing); its next query waits `cold_start_seconds`
before it answers, and queries arriving meanwhile wait with it. Databricks documents only that "latency
is greater and capacity is not guaranteed when scaled to zero"
(https://docs.databricks.com/aws/en/machine-learning/model-serving/glossary), so a deploy must not
mistake a slow first answer for a broken version, nor report it as the endpoint's latency.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

import pandas as pd

Predictor = Callable[[str, str, pd.DataFrame], list[float]]


def distance_predictor(entity_name: str, entity_version: str, frame: pd.DataFrame) -> list[float]:
    """A stand-in model: $2.50 flag drop plus $2.50 a mile."""
    return [2.5 + 2.5 * float(d) for d in frame["trip_distance"]]


@dataclass
class FakeEndpoint:
    name: str
    id: str
    config: dict | None = None
    pending: dict | None = None
    failure: str | None = None
    polls_left: int = 0
    config_version: int = 0
    history: list[dict] = field(default_factory=list)
    scaled_to_zero: bool = False
    warm_at: float = 0.0  # monotonic time at which a cold start that is under way ends

    def as_json(self) -> dict:
        updating = self.pending is not None and self.failure is None
        body = {"name": self.name, "id": self.id, "state": {
            "ready": "READY" if self.config else "NOT_READY",
            "config_update": "IN_PROGRESS" if updating else "UPDATE_FAILED" if self.failure else "NOT_UPDATING"}}
        if self.config:
            body["config"] = self.config
        if self.pending:
            body["pending_config"] = self.pending
        return body


class FakeServing:
    FAILED_UPDATE_KINDS = ("pending_config_kept", "pending_config_dropped", "dropped_without_build_logs")

    def __init__(self, workspace, update_polls: int = 1, predictor: Predictor = distance_predictor):
        self.workspace = workspace
        self.endpoints: dict[str, FakeEndpoint] = {}
        self.update_polls = update_polls
        self.predictor = predictor
        self.failing_versions: dict[str, str] = {}  # entity_version -> reason its build fails
        self.failed_update = "pending_config_dropped"  # one of FAILED_UPDATE_KINDS
        self.cold_start_seconds = 0.0
        self.build_logs: dict[tuple[str, str], str] = {}  # (endpoint, served model name) -> logs
        self._ids = count(1)
        self._lock = threading.Lock()

    def routes(self):
        return {
            ("POST", r"/api/2.0/serving-endpoints"): self._create,
            ("GET", r"/api/2.0/serving-endpoints/([^/]+)"): self._get,
            ("PUT", r"/api/2.0/serving-endpoints/([^/]+)/config"): self._update_config,
            ("GET", r"/api/2.0/serving-endpoints/([^/]+)/served-models/([^/]+)/build-logs"): self._build_logs,
            ("POST", r"/serving-endpoints/([^/]+)/invocations"): self._query,
        }

    def _endpoint(self, name: str) -> FakeEndpoint:
        from fare_assets_tests.databricks.fake_workspace import ApiError

        if name not in self.endpoints:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Endpoint with name '{name}' does not exist.")
        return self.endpoints[name]

    def _create(self, m, query, body):
        from fare_assets_tests.databricks.fake_workspace import ApiError

        request = json.loads(body)
        if request["name"] in self.endpoints:
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Endpoint with name '{request['name']}' already exists.")
        endpoint = FakeEndpoint(request["name"], f"ep-{next(self._ids)}")
        self.endpoints[endpoint.name] = endpoint
        self._start_update(endpoint, request["config"])
        return 200, endpoint.as_json()

    def _update_config(self, m, query, body):
        from fare_assets_tests.databricks.fake_workspace import ApiError

        endpoint = self._endpoint(m.group(1))
        if endpoint.pending and not endpoint.failure:
            raise ApiError(409, "RESOURCE_CONFLICT", f"Endpoint {endpoint.name} is currently being updated.")
        self._start_update(endpoint, json.loads(body))
        return 200, endpoint.as_json()

    def _start_update(self, endpoint: FakeEndpoint, config: dict) -> None:
        entities = config.get("served_entities", [])
        endpoint.pending = {"config_version": endpoint.config_version + 1,
                            "served_entities": [{**e, "state": {"deployment": "DEPLOYMENT_CREATING"}} for e in entities],
                            "traffic_config": config.get("traffic_config")}
        endpoint.failure, endpoint.polls_left = None, self.update_polls
        endpoint.history.append(config)

    def _get(self, m, query, body):
        endpoint = self._endpoint(m.group(1))
        if endpoint.pending and not endpoint.failure:
            if endpoint.polls_left > 0:
                endpoint.polls_left -= 1
            else:
                self._settle(endpoint)
        return 200, endpoint.as_json()

    def scale_to_zero(self, name: str) -> None:
        """The endpoint has been idle long enough: its compute is released."""
        endpoint = self._endpoint(name)
        if not all(e.get("scale_to_zero_enabled") for e in endpoint.config["served_entities"]):
            raise AssertionError(f"{name} does not have scale_to_zero_enabled: Databricks keeps its compute")
        endpoint.scaled_to_zero = True

    def _settle(self, endpoint: FakeEndpoint) -> None:
        reasons = [self.failing_versions[e["entity_version"]] for e in endpoint.pending["served_entities"]
                   if e.get("entity_version") in self.failing_versions]
        entities = [{**e, "name": e.get("name") or f"{e['entity_name'].split('.')[-1]}-{e['entity_version']}"}
                    for e in endpoint.pending["served_entities"]]
        if reasons:
            endpoint.failure = reasons[0]
            if self.failed_update != "dropped_without_build_logs":
                for entity in entities:
                    self.build_logs[endpoint.name, entity["name"]] = f"Building the environment...\nERROR: {reasons[0]}\n"
            if self.failed_update == "pending_config_kept":
                for entity in endpoint.pending["served_entities"]:
                    entity["state"] = {"deployment": "DEPLOYMENT_FAILED", "deployment_state_message": reasons[0]}
            else:
                endpoint.pending = None
            return
        endpoint.config_version += 1
        served = [{**e, "state": {"deployment": "DEPLOYMENT_READY"}} for e in entities]
        endpoint.config = {"config_version": endpoint.config_version, "served_entities": served}
        endpoint.pending, endpoint.scaled_to_zero = None, False  # new compute starts warm

    def _build_logs(self, m, query, body):
        from fare_assets_tests.databricks.fake_workspace import ApiError

        self._endpoint(m.group(1))
        if (m.group(1), m.group(2)) not in self.build_logs:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Served model '{m.group(2)}' does not exist.")
        return 200, {"logs": self.build_logs[m.group(1), m.group(2)]}

    def _query(self, m, query, body):
        from fare_assets_tests.databricks.fake_workspace import ApiError

        endpoint = self._endpoint(m.group(1))
        if not endpoint.config:
            raise ApiError(400, "BAD_REQUEST", f"Endpoint {endpoint.name} is not ready.")
        with self._lock:
            if endpoint.scaled_to_zero:
                endpoint.scaled_to_zero, endpoint.warm_at = False, time.monotonic() + self.cold_start_seconds
            wait = endpoint.warm_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        request = json.loads(body)
        if "dataframe_records" in request:
            frame = pd.DataFrame.from_records(request["dataframe_records"])
        elif "dataframe_split" in request:
            split = request["dataframe_split"]
            frame = pd.DataFrame(split["data"], columns=split["columns"])
        else:
            raise ApiError(400, "BAD_REQUEST", "send dataframe_records or dataframe_split")
        served = endpoint.config["served_entities"][0]
        predictions = self.predictor(served["entity_name"], served["entity_version"], frame)
        return 200, {"predictions": predictions}, {"served-model-name": served["name"]}
