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


def run(command: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.mark.slow
def test_quickstart_twice_then_call_the_endpoint_then_stop(tmp_path):
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()
    port = free_port()
    env = {**os.environ, "FARE_ASSETS_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "FARE_ASSETS_SERVING_PORT": str(port), "FARE_ASSETS_TRAIN_END": "2016-01-22"}
    materialize = [str(BIN / "dagster"), "asset", "materialize", "-m", "fare_assets", "--select", "*"]
    status = [str(BIN / "fare-assets"), "status", "--json"]
    try:
        run(materialize, env, tmp_path)
        first = json.loads(run(status, env, tmp_path).stdout)
        run(materialize, env, tmp_path)
        second = json.loads(run(status, env, tmp_path).stdout)

        assert first["champion_version"] == 1 and first["challenger_version"] == 1
        assert second["challenger_version"] == 2  # the second run registers version 2 ...
        assert second["champion_version"] in (1, 2)  # ... and the decision is recorded either way
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
        tags = client.get_model_version("main.ml_serving.fare_predictor", "2").tags
        assert "champion_decision_reason" in tags
        assert second["endpoint"]["version"] == second["champion_version"]
        assert second["tables"]["predictions"]["rows"] > first["tables"]["predictions"]["rows"] > 0
        assert second["latest_monitoring"] is not None

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/serving-endpoints/ml_serving_fare_predictor_endpoint/invocations",
            data=json.dumps(SEED_PAYLOAD).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            [fare] = json.loads(response.read())["predictions"]
        assert 5 < fare < 40  # a 3.5-mile rush-hour trip in dollars
    finally:
        stopped = subprocess.run([str(BIN / "fare-assets"), "stop"], env=env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
    assert "stopped" in stopped.stdout
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
