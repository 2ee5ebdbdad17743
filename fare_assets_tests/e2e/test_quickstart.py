"""The README's quick start, as a new user runs it: the Dagster CLI twice, the endpoint, status, stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from fare_assets_tests.conftest import free_port

SEED_PAYLOAD = {"dataframe_records": [{
    "trip_distance": 3.5, "pickup_hour": 17, "pickup_dayofweek": 3, "pickup_month": 6,
    "is_weekend": 0, "is_rush_hour": 1,
}]}
BIN = Path(sys.executable).parent
JFK, MIDTOWN = 132, 161  # TLC zone ids


def run(command: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


REPO = Path(__file__).resolve().parents[2]


def listing(folder: Path) -> list[str] | None:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else None


@pytest.mark.slow
def test_quickstart_with_a_home_of_its_own_then_replay_call_the_endpoint_and_stop(tmp_path):
    """From the repository root, as the README says, with FARE_ASSETS_HOME set in the shell and no
    DAGSTER_HOME: everything, Dagster's run history included, lands in that home; replay then
    continues the same history window by window."""
    home, port = tmp_path / "home", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARE_ASSETS_", "DAGSTER_HOME"))}
    env.update({"FARE_ASSETS_HOME": str(home), "FARE_ASSETS_SERVING_PORT": str(port),
                "FARE_ASSETS_TRAIN_END": "2016-01-22"})
    checkout_state = listing(REPO / ".fare_assets")
    try:
        run([str(BIN / "dagster"), "asset", "materialize", "-m", "fare_assets", "--select", "*"], env, REPO)
        status = json.loads(run([str(BIN / "fare-assets"), "status", "--json"], env, REPO).stdout)
        assert status["champion_version"] == 1 and status["challenger_version"] == 1
        assert status["endpoint"]["version"] == 1
        assert status["watermark"] == "2016-01-22 06:00:00"
        assert status["tables"]["predictions"]["rows"] > 0 and status["latest_monitoring"] is not None

        replayed = run([str(BIN / "fare-assets"), "replay", "--until", "2016-01-22T12:00", "--json"], env, REPO)
        [step] = [json.loads(line) for line in replayed.stdout.splitlines()]
        assert (step["window_start"], step["window_end"]) == ("2016-01-22 06:00:00", "2016-01-22 12:00:00")

        from dagster import DagsterInstance

        with DagsterInstance.from_config(str(home / "dagster")) as instance:  # the CLI's and replay's runs
            assert len(instance.get_run_records()) == 2  # the quick start, then the replayed batch run
        assert listing(REPO / ".fare_assets") == checkout_state

        [fare] = invoke(port, SEED_PAYLOAD)
        assert 5 < fare < 40  # a 3.5-mile rush-hour trip in dollars
        # The synthetic trips carry zones, so the model learned them; they are optional fields.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/serving-endpoints/ml_serving_fare_predictor_endpoint",
                                    timeout=10) as response:
            inputs = {field["name"]: field["required"] for field in json.loads(response.read())["inputs"]}
        assert inputs["pickup_location_id"] is inputs["dropoff_location_id"] is False and inputs["trip_distance"]
        [seed] = SEED_PAYLOAD["dataframe_records"]
        from_jfk = {**seed, "trip_distance": 17.5, "pickup_location_id": JFK, "dropoff_location_id": MIDTOWN}
        nulls = {**from_jfk, "pickup_location_id": None, "dropoff_location_id": None}
        with_zones, null_zones, left_out = invoke(port, {"dataframe_records": [from_jfk, nulls, seed | {"trip_distance": 17.5}]})
        assert 45 < with_zones < 60  # JFK to Manhattan is a flat $52 fare, learned from the zones
        assert null_zones == left_out  # null and left out are the same: no zone
    finally:
        stopped = subprocess.run([str(BIN / "fare-assets"), "stop"], env=env, cwd=REPO,
                                 capture_output=True, text=True, timeout=60)
    assert "stopped" in stopped.stdout
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_status_in_a_folder_without_a_home_says_so_and_creates_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARE_ASSETS_", "DAGSTER_HOME"))}
    done = subprocess.run([str(BIN / "fare-assets"), "status"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"no fare-assets home at {tmp_path / '.fare_assets'}" in done.stderr
    assert list(tmp_path.iterdir()) == []


def invoke(port: int, payload: dict) -> list[float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/serving-endpoints/ml_serving_fare_predictor_endpoint/invocations",
        data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["predictions"]
