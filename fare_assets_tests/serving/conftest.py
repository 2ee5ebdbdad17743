"""A real registry with three different model versions and one broken one, and a real endpoint
process serving version 1 for the whole session (tests that change the version put it back)."""

from __future__ import annotations

import json
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from fare_assets.ml.schema import FEATURE_COLUMNS
from fare_assets.serving.manager import LocalEndpoint
from fare_assets.settings import Settings

HGB_TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_for(home: Path, port: int) -> Settings:
    return Settings.from_env({"FARE_ASSETS_HOME": str(home), "FARE_ASSETS_SERVING_PORT": str(port)})


def trip_features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "trip_distance": np.round(rng.gamma(2.0, 1.6, n), 2),
        "pickup_hour": rng.integers(0, 24, n),
        "pickup_dayofweek": rng.integers(1, 8, n),
        "pickup_month": rng.integers(1, 13, n),
    })
    frame["is_weekend"] = frame["pickup_dayofweek"].isin([1, 7]).astype("int64")
    rush = frame["pickup_hour"].isin([7, 8, 9, 16, 17, 18, 19])
    frame["is_rush_hour"] = ((frame["is_weekend"] == 0) & rush).astype("int64")
    return frame[list(FEATURE_COLUMNS)]


@dataclass
class Registry:
    settings: Settings
    models: dict[int, object] = field(default_factory=dict)
    broken_version: int = 0

    def expected(self, version: int, rows: list[dict]) -> list[float]:
        """What the registered version predicts in process, for rows in any column order."""
        frame = pd.DataFrame(rows)
        model = self.models[version]
        names = getattr(model, "feature_names_in_", None)
        X = frame[list(names)] if names is not None else frame[list(FEATURE_COLUMNS)].to_numpy(np.float64)
        return model.predict(X).tolist()


def _fit_versions(frame: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    d, rush, hour = frame["trip_distance"], frame["is_rush_hour"], frame["pickup_hour"]
    X = frame.to_numpy(np.float64)
    # Three different models, so each version's predictions are recognisably its own.
    plain = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X, 3.0 + 2.5 * d + rush)
    pipeline = Pipeline([
        ("select", ColumnTransformer([("used", "passthrough", [0, 1, 2, 4, 5])], remainder="drop")),
        ("gbm", HistGradientBoostingRegressor(max_iter=40, random_state=1)),
    ]).fit(X, 5.0 + 3.0 * d + 0.1 * hour)
    # Fitted on a frame in a shuffled column order: the server must feed columns by name.
    shuffled = frame[list(reversed(FEATURE_COLUMNS))]
    named = HistGradientBoostingRegressor(max_iter=40, random_state=2).fit(shuffled, 2.0 + 2.0 * d + 1.5 * rush)
    return [(plain, frame, "skops"), (pipeline, frame, "cloudpickle"), (named, shuffled, "cloudpickle")]


def _log(model, example: pd.DataFrame, name: str, serialization_format: str) -> int:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    predictions = pd.Series(model.predict(example.head(20)), name="prediction")
    info = mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(example.head(20), predictions),
        input_example=example.head(3), registered_model_name=name, serialization_format=serialization_format,
        pip_requirements=["scikit-learn"],
        **({"skops_trusted_types": HGB_TRUSTED} if serialization_format == "skops" else {}),
    )
    return int(info.registered_model_version)


_registries: list[Registry] = []


def shared_registry(tmp_path_factory) -> Registry:
    """Built once per session for every folder that needs it (the serving and the fault tests):
    fitting and logging the versions is the slowest part of these suites."""
    if not _registries:
        _registries.append(_build_registry(tmp_path_factory.mktemp("serving_home")))
    return _registries[0]


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    return shared_registry(tmp_path_factory)


def _build_registry(home: Path) -> Registry:
    import warnings

    import mlflow

    settings = settings_for(home, free_port())
    mlflow.set_tracking_uri(settings.local_mlflow_uri)
    mlflow.set_registry_uri(settings.local_mlflow_uri)
    experiment = mlflow.create_experiment("serving_tests", artifact_location=settings.artifact_location)
    registry = Registry(settings)
    frame = trip_features(3000, seed=7)
    with warnings.catch_warnings(), mlflow.start_run(experiment_id=experiment):
        warnings.simplefilter("ignore")
        for model, example, serialization_format in _fit_versions(frame):
            registry.models[_log(model, example, settings.registered_model_name, serialization_format)] = model
        broken = _log(registry.models[1], frame, settings.registered_model_name, "cloudpickle")
    client = mlflow.MlflowClient(settings.local_mlflow_uri, settings.local_mlflow_uri)
    artifacts = client.get_model_version_download_uri(settings.registered_model_name, str(broken))
    # The registry still says READY, but the pickled model is gone: loading must fail.
    (Path(artifacts.removeprefix("file://")) / "model.pkl").unlink()
    registry.broken_version = broken
    return registry


@pytest.fixture(scope="session")
def endpoint(registry: Registry):
    local = LocalEndpoint(registry.settings, token=None)
    local.deploy(1)
    yield local
    local.stop()


@pytest.fixture(scope="session")
def http(endpoint: LocalEndpoint):
    with httpx.Client(base_url=endpoint.settings.serving_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def invocations(registry: Registry) -> str:
    return f"/serving-endpoints/{registry.settings.endpoint_name}/invocations"


def copy_registry(registry: Registry, home: Path, port: int) -> Settings:
    """A second home that sees the same registry (artifact URIs are absolute): a second endpoint
    with its own serving directory, port and token, without registering the models again."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(registry.settings.home / "mlflow.db", home / "mlflow.db")
    return settings_for(home, port)


def sample_rows(n: int, seed: int = 0) -> list[dict]:
    """Valid request rows as a client would send them: JSON ints and floats."""
    frame = trip_features(n, seed)
    return [
        {c: (float(v) if c == "trip_distance" else int(v)) for c, v in zip(FEATURE_COLUMNS, row)}
        for row in frame.itertuples(index=False)
    ]


def served_version(response: httpx.Response) -> int:
    return int(response.headers["x-served-model-version"])


def wait_until(condition, what: str, seconds: float = 10.0, every: float = 0.01) -> None:
    """Poll `condition` until it holds; fail naming `what` if it does not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(every)


def read_metrics(http: httpx.Client) -> dict[str, float]:
    """The endpoint's Prometheus samples, keyed by name and labels as written."""
    samples = (line.rsplit(" ", 1) for line in http.get("/metrics").text.splitlines() if line and line[0] != "#")
    return {key: float(value) for key, value in samples}


def access_log_offset(endpoint: LocalEndpoint, http: httpx.Client) -> int:
    """The access log's size once every earlier request is in it. A request is logged just after its
    answer is sent, so the last request of the test before can land after a size read now (seen once
    in CI: a GET /metrics line among the next test's records). The server answers and logs in one
    event loop, in order, so once a request of its own, to a path of its own, is in the log, every
    earlier one is too."""
    mark = f"/access-log-mark-{uuid.uuid4().hex}"
    http.get(mark)
    wait_until(lambda: any(r["path"] == mark for r in access_log_after(endpoint, 0)), f"{mark} in the access log")
    return endpoint.paths.access_log.stat().st_size


def access_log_after(endpoint: LocalEndpoint, offset: int) -> list[dict]:
    """The access log's records written after byte `offset` (its size before the request)."""
    with open(endpoint.paths.access_log, "rb") as handle:
        handle.seek(offset)
        return [json.loads(line) for line in handle.read().splitlines() if line]
