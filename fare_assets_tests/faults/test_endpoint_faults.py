"""The endpoint under faults: a bad port at deploy, a never-ending header, a flood of slow
bodies, and an over-limit body from a plain client. The endpoint keeps serving through each.

Everything runs on 127.0.0.1 against a real server process, with bounded loops.
"""

from __future__ import annotations

import http.client
import json
import resource
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from fare_assets.serving.manager import EndpointError, LocalEndpoint
from fare_assets_tests.serving.conftest import (
    copy_registry, free_port, sample_rows, shared_registry, wait_until,
)

ROWS = sample_rows(2, seed=31)
MB = 1024 * 1024
ATTACK_SECONDS = 3.0
LATENCY_BOUND = 0.5  # seconds: generous on 2 shared cores; a stall behind an attacker is seconds


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return shared_registry(tmp_path_factory)


@pytest.fixture(scope="module")
def exposed(registry, tmp_path_factory):
    """An endpoint of its own, so attacks never reach the serving tests' endpoint."""
    settings = copy_registry(registry, tmp_path_factory.mktemp("exposed_home"), free_port())
    endpoint = LocalEndpoint(settings)
    endpoint.deploy(1)
    yield endpoint
    endpoint.stop()


def memory_kb(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def timed_requests(endpoint: LocalEndpoint, n: int) -> dict[str, list[float]]:
    """n /health and n predictions, each on a fresh connection as a one-off client makes them;
    a request that fails raises, so a dropped request fails the test."""
    port, body = endpoint.settings.serving_port, json.dumps({"dataframe_records": ROWS})
    invocations = endpoint.url.removeprefix(endpoint.settings.serving_url)
    seconds: dict[str, list[float]] = {"health": [], "invocations": []}
    for _ in range(n):
        for route, method, path, payload in (("health", "GET", "/health", None),
                                             ("invocations", "POST", invocations, body)):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
            started = time.perf_counter()
            try:
                connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
            seconds[route].append(time.perf_counter() - started)
            assert response.status == 200, (route, response.status)
    return seconds


def percentiles(seconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49], cuts[98]


def report(label: str, seconds: dict[str, list[float]]) -> None:
    for route, values in seconds.items():
        p50, p99 = percentiles(values)
        print(f"{label}: {route} p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(values)} requests")


def metric(endpoint: LocalEndpoint, name: str) -> float:
    with urllib.request.urlopen(f"{endpoint.settings.serving_url}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name))


def test_a_deploy_to_a_busy_port_fails_and_the_running_endpoint_keeps_serving(registry, tmp_path):
    endpoint = LocalEndpoint(copy_registry(registry, tmp_path / "home", free_port()))
    endpoint.deploy(1)
    try:
        before = endpoint.status()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            busy = squatter.getsockname()[1]
            moved = LocalEndpoint(replace(endpoint.settings, serving_port=busy))

            with pytest.raises(EndpointError) as failure:
                moved.deploy(2)

        message = str(failure.value)
        assert f"127.0.0.1:{busy}" in message and "in use" in message, message
        assert "version 1 keeps serving" in message, message
        after = endpoint.status()
        assert (after["pid"], after["version"], after["base_url"], after["healthy"]) == \
            (before["pid"], 1, before["base_url"], True)
        assert endpoint.predict(ROWS) == registry.expected(1, ROWS)
    finally:
        endpoint.stop()


class EndlessHeader(threading.Thread):
    """Sends one header that never ends, reconnecting whenever the server cuts it off."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.stop = port, threading.Event()
        self.sent = 0
        self.sent_per_connection: list[int] = []
        self.answers: list[bytes] = []

    def run(self) -> None:
        deadline = time.monotonic() + ATTACK_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as attacker:
                sent = self._flood(attacker, deadline)
                self.sent_per_connection.append(sent)
                self.answers.append(_first_bytes(attacker))

    def _flood(self, attacker: socket.socket, deadline: float) -> int:
        sent, filler = 0, b"a" * 65536
        try:
            attacker.sendall(b"GET /health HTTP/1.1\r\nHost: attacker\r\nX-Filler: ")
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    n = attacker.send(filler)
                    sent, self.sent = sent + n, self.sent + n
                except TimeoutError:
                    continue  # the server is not reading: keep the connection and try again
        except OSError:
            pass  # cut off by the server: what a defended server does
        return sent

    @property
    def cut_off(self) -> int:
        """Connections the server closed before the attack's deadline."""
        return len(self.sent_per_connection) - 1 if self.sent_per_connection else 0


def _first_bytes(attacker: socket.socket) -> bytes:
    try:
        return attacker.recv(64)
    except OSError:
        return b""


def test_a_never_ending_header_is_cut_off_while_health_and_predictions_stay_fast(exposed):
    pid = exposed.status()["pid"]
    peak_before = memory_kb(pid, "VmHWM")
    attacker = EndlessHeader(exposed.settings.serving_port)
    attacker.start()
    try:
        wait_until(lambda: attacker.sent >= 4 * MB, "the attack to get going")
        seconds = timed_requests(exposed, 50)
    finally:
        attacker.stop.set()
        attacker.join()

    grown_mb = (memory_kb(pid, "VmHWM") - peak_before) / 1024
    report("during a never-ending header", seconds)
    print(f"attacker: {attacker.sent / MB:.0f} MB on {len(attacker.sent_per_connection)} connections, at most "
          f"{max(attacker.sent_per_connection) / MB:.1f} MB sent on one; server peak memory grew {grown_mb:.1f} MB; "
          f"answers {set(a.split(b' ')[1] for a in attacker.answers if a)}")
    assert attacker.cut_off >= 1, "the server never closed the never-ending header"
    assert b"431" in b" ".join(attacker.answers)
    assert grown_mb < 32
    assert all(percentiles(values)[1] < LATENCY_BOUND for values in seconds.values())


@pytest.fixture
def small_file_limit(exposed):
    """The server's open-file limit lowered to 256, so a few hundred connections exhaust it:
    the same failure 20,000 connections caused at the default limit, at a scale a test can afford."""
    pid = exposed.status()["pid"]
    original = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (256, original[1]))
    yield 256
    resource.prlimit(pid, resource.RLIMIT_NOFILE, original)


def test_more_slow_bodies_than_the_server_has_files_do_not_drop_a_well_behaved_client(exposed, small_file_limit):
    invocations = exposed.url.removeprefix(exposed.settings.serving_url)
    head = (f"POST {invocations} HTTP/1.1\r\nHost: attacker\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n{\"dataframe_records\": [").encode()
    shed_before = metric(exposed, "fare_serving_connections_shed_total")
    attackers = []
    try:
        for _ in range(small_file_limit + 150):
            try:
                attacker = socket.create_connection(("127.0.0.1", exposed.settings.serving_port), timeout=2.0)
                attacker.sendall(head)
                attackers.append(attacker)
            except OSError:
                pass  # shed at once: fine, the point is what the well-behaved client sees
        seconds = timed_requests(exposed, 25)
    finally:
        for attacker in attackers:
            attacker.close()

    report(f"with {len(attackers)} slow bodies open", seconds)
    assert metric(exposed, "fare_serving_connections_shed_total") > shed_before
    assert all(percentiles(values)[1] < LATENCY_BOUND for values in seconds.values())


def test_urllib_posting_an_over_limit_body_reads_the_413_and_its_json_error(exposed):
    request = urllib.request.Request(exposed.url, data=b" " * (16 * MB + 1),
                                     headers={"Content-Type": "application/json"})

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)

    assert answer.value.code == 413
    error = json.loads(answer.value.read())
    assert error["error_code"] == "REQUEST_TOO_LARGE"
    assert "16777217 bytes" in error["message"]
