"""A second endpoint, with auth on: tokens, crash recovery, concurrent deploys, stop, a busy port.

It has its own home (a copy of the session registry), serving directory and port, so restarting
it never disturbs the session endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from fare_assets.serving.manager import SERVER_MODULE, EndpointError, LocalEndpoint, child_env, server_alive
from fare_assets_tests.serving.conftest import copy_registry, free_port, sample_rows, wait_until

TOKEN = "tok-" + secrets.token_urlsafe(16)
ROWS = sample_rows(2, seed=8)


@pytest.fixture(scope="module")
def guarded(registry, tmp_path_factory):
    settings = copy_registry(registry, tmp_path_factory.mktemp("guarded_home"), free_port())
    endpoint = LocalEndpoint(settings, token=TOKEN)
    endpoint.deploy(2)
    yield endpoint
    endpoint.stop()


def servers_of(home: Path) -> list[int]:
    """Every live server process whose FARE_ASSETS_HOME is `home`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if SERVER_MODULE.encode() in (proc / "cmdline").read_bytes() and \
                    f"FARE_ASSETS_HOME={home}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if server_alive(pid)]


@pytest.mark.parametrize("method, path", [
    ("POST", "INVOCATIONS"), ("POST", "/invocations"), ("GET", "/health"), ("GET", "/ready"),
    ("GET", "/info"), ("GET", "/metrics"),
])
def test_with_a_token_set_every_route_needs_the_bearer_token(guarded, method, path):
    path = guarded.url.removeprefix(guarded.settings.serving_url) if path == "INVOCATIONS" else path
    body = {"dataframe_records": ROWS} if method == "POST" else None
    with httpx.Client(base_url=guarded.settings.serving_url) as client:
        missing = client.request(method, path, json=body)
        wrong = client.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}x"})
        other_scheme = client.request(method, path, json=body, headers={"Authorization": f"Basic {TOKEN}"})
        right = client.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        lowercase_scheme = client.request(method, path, json=body, headers={"Authorization": f"bearer {TOKEN}"})

    assert (missing.status_code, wrong.status_code, other_scheme.status_code) == (401, 401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "missing Authorization" in missing.json()["message"]
    assert wrong.json() == {"error_code": "UNAUTHENTICATED", "message": "invalid bearer token"}
    assert (right.status_code, lowercase_scheme.status_code) == (200, 200)


def test_the_token_and_a_wrong_token_never_appear_in_logs_state_status_or_metrics(guarded, registry):
    wrong = "wrong-" + secrets.token_urlsafe(12)
    with httpx.Client(base_url=guarded.settings.serving_url) as client:
        assert client.post("/invocations", json={"dataframe_records": ROWS},
                           headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        authorized = {"Authorization": f"Bearer {TOKEN}"}
        served = [client.get(path, headers=authorized).text for path in ("/info", "/metrics")]

    assert guarded.predict(ROWS) == registry.expected(2, ROWS)
    written = [p.read_text(errors="replace") for p in guarded.paths.root.iterdir() if p.is_file()]
    for text in [*written, *served, json.dumps(guarded.status())]:
        assert TOKEN not in text and wrong not in text
    assert guarded.status()["auth"] == "bearer"
    assert oct(guarded.paths.secret.stat().st_mode & 0o777) == "0o600"


def test_a_deploy_without_the_servers_token_is_refused_and_changes_nothing(guarded):
    before = guarded.status()

    for token in (None, "some-other-token"):
        with pytest.raises(EndpointError, match="rejects this deploy's FARE_ASSETS_SERVING_TOKEN"):
            LocalEndpoint(guarded.settings, token=token).deploy(3)

    after = guarded.status()
    assert (after["pid"], after["version"]) == (before["pid"], before["version"])


def test_a_crashed_server_is_detected_and_restarted_by_the_next_deploy(guarded, registry):
    crashed = guarded.status()["pid"]
    os.kill(crashed, signal.SIGKILL)
    wait_until(lambda: not server_alive(crashed), "the killed server to exit")

    assert guarded.status() is None
    result = guarded.deploy(1)

    assert (result.started, result.previous_version, result.version) == (True, None, 1)
    assert guarded.status()["pid"] != crashed
    assert guarded.predict(ROWS) == registry.expected(1, ROWS)


DEPLOY_SCRIPT = """
import json, sys
from fare_assets.serving.manager import LocalEndpoint
from fare_assets.settings import Settings
result = LocalEndpoint.from_settings(Settings.from_env()).deploy(int(sys.argv[1]))
print(json.dumps(result.__dict__))
"""


@pytest.mark.slow
def test_two_deploys_at_once_from_two_processes_leave_one_server_that_outlives_them(guarded):
    home = guarded.settings.home
    assert guarded.stop()
    env = child_env(guarded.settings.to_env(), TOKEN)

    deployers = [subprocess.Popen([sys.executable, "-c", DEPLOY_SCRIPT, str(v)], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for v in (2, 3)]
    results = []
    for deployer in deployers:
        out, err = deployer.communicate(timeout=180)
        assert deployer.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert sorted(r["started"] for r in results) == [False, True]
    first, second = sorted(results, key=lambda r: r["started"], reverse=True)
    assert second["previous_version"] == first["version"]
    assert servers_of(home) == [guarded.status()["pid"]]  # both deployers have exited; the server has not
    assert guarded.status()["version"] == second["version"]


def test_stop_stops_the_server_and_frees_the_port(guarded):
    pid = guarded.status()["pid"]

    assert guarded.stop() is True

    assert not server_alive(pid)
    assert guarded.status() is None
    assert guarded.stop() is False
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", guarded.settings.serving_port))


def test_a_busy_port_fails_the_deploy_with_the_reason(registry, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        settings = copy_registry(registry, tmp_path / "home", squatter.getsockname()[1])

        with pytest.raises(EndpointError, match="port is in use"):
            LocalEndpoint(settings).deploy(1)

    assert LocalEndpoint(settings).status() is None


def test_a_new_address_in_the_settings_moves_the_endpoint_once_the_new_process_answers(registry, tmp_path):
    first = LocalEndpoint(copy_registry(registry, tmp_path / "home", free_port()))
    first.deploy(1)
    old = first.status()
    moved = LocalEndpoint(replace(first.settings, serving_port=free_port()))
    try:
        result = moved.deploy(2)

        assert (result.started, result.previous_version, result.version) == (True, 1, 2)
        now = moved.status()
        assert now["base_url"] == moved.settings.serving_url and now["version"] == 2
        assert not server_alive(old["pid"])
        assert moved.predict(ROWS) == registry.expected(2, ROWS)
        assert not moved.paths.candidate.exists()
    finally:
        moved.stop()


def test_the_server_binds_to_loopback_by_default(endpoint):
    assert endpoint.settings.serving_host == "127.0.0.1"
    assert endpoint.status()["base_url"].startswith("http://127.0.0.1:")
