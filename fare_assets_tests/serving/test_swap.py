"""Zero-downtime version changes: load and verify first, swap atomically, roll back on failure."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from fare_assets.serving.manager import EndpointError
from fare_assets_tests.serving.conftest import access_log_after, access_log_offset, read_metrics, sample_rows, served_version, wait_until

ROWS = sample_rows(4, seed=21)
LOAD_THREADS = 4
MAX_SECONDS = 30.0
MAX_REQUESTS_PER_THREAD = 20_000


class LoadLoop:
    """Bounded background traffic to 127.0.0.1 that records every answer."""

    def __init__(self, base_url: str, path: str):
        self.base_url, self.path = base_url, path
        self.stop = threading.Event()
        self.answers: list[list[tuple[int, int | None, list | str]]] = [[] for _ in range(LOAD_THREADS)]
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(LOAD_THREADS)]

    def _run(self, i: int) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            while not self.stop.is_set() and time.monotonic() < deadline and len(self.answers[i]) < MAX_REQUESTS_PER_THREAD:
                try:
                    response = client.post(self.path, json={"dataframe_records": ROWS})
                    body = response.json()["predictions"] if response.status_code == 200 else response.text
                    self.answers[i].append((response.status_code, served_version(response), body))
                except httpx.HTTPError as error:
                    self.answers[i].append((0, None, repr(error)))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        wait_until(lambda: sum(map(len, self.answers)) >= 50, "the load to get going")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def all(self):
        return [answer for answers in self.answers for answer in answers]

    def saw(self, version: int) -> bool:
        return any(answer[1] == version for answers in self.answers for answer in list(answers))


@pytest.fixture
def restore_version_1(endpoint):
    yield
    endpoint.deploy(1)


def test_version_changes_twice_under_load_without_a_single_failed_request(
        endpoint, registry, invocations, restore_version_1):
    expected = {v: registry.expected(v, ROWS) for v in (1, 2, 3)}

    with LoadLoop(endpoint.settings.serving_url, invocations) as load:
        to_two = endpoint.deploy(2)
        wait_until(lambda: load.saw(2), "the load to be answered by version 2")
        to_three = endpoint.deploy(3)
        wait_until(lambda: load.saw(3), "the load to be answered by version 3")

    answers = load.all()
    assert (to_two.previous_version, to_two.version, to_two.started) == (1, 2, False)
    assert (to_three.previous_version, to_three.version, to_three.started) == (2, 3, False)
    assert [a for a in answers if a[0] != 200] == []
    # Every answer is wholly one version's, and each client sees versions only move forward.
    assert all(predictions == expected[version] for _, version, predictions in answers)
    for answers_of_one_client in load.answers:
        versions = [version for _, version, _ in answers_of_one_client]
        assert versions == sorted(versions)
    assert {version for _, version, _ in answers} == {1, 2, 3}
    assert endpoint.predict(ROWS) == expected[3]
    assert endpoint.status()["version"] == 3


def test_a_version_that_cannot_load_leaves_the_old_one_serving_and_fails_the_deploy(endpoint, registry):
    before = endpoint.status()

    with pytest.raises(EndpointError) as failure:
        endpoint.deploy(registry.broken_version)

    message = str(failure.value)
    assert f"version {registry.broken_version} was not deployed" in message
    assert "could not load" in message and "model.pkl" in message
    assert f"version {before['version']} keeps serving" in message
    after = endpoint.status()
    assert (after["version"], after["pid"], after["healthy"]) == (before["version"], before["pid"], True)
    assert endpoint.predict(ROWS) == registry.expected(before["version"], ROWS)


def test_a_version_that_is_not_registered_fails_the_deploy_before_touching_the_server(endpoint, registry):
    before = endpoint.status()

    with pytest.raises(EndpointError, match="version 999 cannot be deployed: .*not found"):
        endpoint.deploy(999)

    assert endpoint.status()["version"] == before["version"]


def test_deploying_the_served_version_again_only_verifies_it(endpoint):
    serving = endpoint.status()

    result = endpoint.deploy(serving["version"])

    assert (result.version, result.previous_version, result.started) == (serving["version"], serving["version"], False)
    assert result.verify_latency_ms > 0
    assert endpoint.status()["pid"] == serving["pid"]


def test_metrics_count_each_request_by_route_and_status_and_show_the_served_version(endpoint, http, invocations):
    before = read_metrics(http)
    http.post(invocations, json={"dataframe_records": []})
    http.post(invocations, json={"dataframe_records": ROWS})
    version = endpoint.status()["version"]

    text = http.get("/metrics").text

    after = read_metrics(http)
    grew = {key: after[key] - before.get(key, 0) for key in (
        'fare_serving_requests_total{route="invocations",status="200"}',
        'fare_serving_requests_total{route="invocations",status="400"}',
        'fare_serving_errors_total{status="400"}',
        'fare_serving_request_duration_seconds_count{route="invocations"}',
        "fare_serving_rows_total")}
    assert grew == {'fare_serving_requests_total{route="invocations",status="200"}': 1,
                    'fare_serving_requests_total{route="invocations",status="400"}': 1,
                    'fare_serving_errors_total{status="400"}': 1,
                    'fare_serving_request_duration_seconds_count{route="invocations"}': 2,
                    "fare_serving_rows_total": len(ROWS)}
    assert after['fare_serving_request_duration_seconds_bucket{route="invocations",le="+Inf"}'] == \
        after['fare_serving_request_duration_seconds_count{route="invocations"}']
    assert after[f'fare_serving_served_version{{model="{endpoint.settings.registered_model_name}"}}'] == version
    assert "# TYPE fare_serving_request_duration_seconds histogram" in text


def test_the_access_log_has_one_json_line_per_request_with_latency(endpoint, http, invocations):
    offset = access_log_offset(endpoint, http)
    http.post(invocations, json={"dataframe_records": ROWS})
    http.post(invocations, json={"dataframe_records": [{"pickup_hour": 3}]})

    # A request is logged just after its answer is sent (its latency includes sending).
    wait_until(lambda: len(access_log_after(endpoint, offset)) >= 2, "both requests in the access log")
    logged = access_log_after(endpoint, offset)
    assert [(r["status"], r["rows"], r["path"]) for r in logged] == [(200, 4, invocations), (400, 0, invocations)]
    assert all(r["ms"] > 0 and r["version"] >= 1 for r in logged)
    assert "missing field" in logged[1]["error"]
