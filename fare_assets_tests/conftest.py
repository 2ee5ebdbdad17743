"""Fixtures shared by the whole suite: real data location, isolated homes, one trained pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "nyc_tlc"


def tlc_sample(month: int) -> Path:
    return SHARED_DATA / f"yellow_tripdata_sample_2019-{month:02d}.csv"


@pytest.fixture(scope="session")
def nyc_tlc_dir() -> Path:
    if not tlc_sample(1).exists():
        pytest.skip(f"real TLC samples not found at {SHARED_DATA} (they live in ../shared beside the repo)")
    return SHARED_DATA


def settings_env(home: Path, **overrides: str) -> dict[str, str]:
    """FARE_ASSETS_* variables for an isolated home; a free port so parallel homes never collide."""
    env = {"FARE_ASSETS_HOME": str(home), "FARE_ASSETS_SERVING_PORT": str(free_port())}
    env.update({f"FARE_ASSETS_{k.upper()}": v for k, v in overrides.items()})
    return env


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch):
    """Tests never read the developer's own FARE_ASSETS_* or DAGSTER_HOME."""
    for key in list(os.environ):
        if key.startswith("FARE_ASSETS_") or key == "DAGSTER_HOME":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session", autouse=True)
def _one_openmp_thread_per_worker():
    """Two xdist workers share two cores, so a model fitted in a test with OpenMP's default team of
    two spins against the other worker: a 20k-row HistGradientBoosting fit took 13.5 s instead of
    0.09 s with one thread (measured with both cores busy). The project's own fits already run on one
    thread (ml/training.py search_model); this covers the fits tests make themselves. Task
    subprocesses are not affected, and a test that wants two threads passes them explicitly."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


TRAINING_ASSETS = ("feature_table", "model_version", "training_baseline", "champion_alias")


@pytest.fixture(scope="session")
def trained_pipeline(tmp_path_factory):
    """One trained deployment per session: three weeks of synthetic trips, version 1 is Champion."""
    from fare_assets_tests.pipeline import Pipeline

    pipeline = Pipeline(tmp_path_factory.mktemp("trained_home"), train_start="2016-01-01", train_end="2016-01-22")
    pipeline.materialize(*TRAINING_ASSETS)
    yield pipeline
    pipeline.stop_endpoint()


# The suite runs on two pytest-xdist workers (`-n 2 --dist loadgroup` in pyproject.toml). Each worker
# builds its own session fixtures, so every test that shares an expensive one is sent to the same
# worker: one Spark Connect server, one trained deployment and one serving endpoint per run, not two.
# A test with a module-scoped fixture (a replayed loop, say) stays with its module, so that fixture is
# also built once; every other test goes wherever a worker is free. The long units of work are handed
# out first (`--no-loadscope-reorder` keeps this order), so the run never ends waiting on one of them.
SHARED_SESSION_FIXTURES = {"cluster": "spark_cluster", "trained_pipeline": "trained_pipeline",
                           "registry": "serving_registry"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into node ids
def pytest_collection_modifyitems(config, items):
    groups = {}
    for item in items:
        groups[item.nodeid] = _worker_group(item)
        if groups[item.nodeid] and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    slow_groups = {groups[i.nodeid] for i in items if groups[i.nodeid] and i.get_closest_marker("slow")}

    def start_order(item) -> int:  # 0: slow groups and slow tests, 1: other groups, 2: the rest
        group = groups[item.nodeid]
        if group in slow_groups or (not group and item.get_closest_marker("slow")):
            return 0
        return 1 if group else 2

    items.sort(key=start_order)  # stable: each class keeps the collection order


def _worker_group(item) -> str | None:
    definitions = item._fixtureinfo.name2fixturedefs
    scopes = {name: definitions[name][-1].scope for name in item.fixturenames if definitions.get(name)}
    for name, group in SHARED_SESSION_FIXTURES.items():
        if scopes.get(name) == "session":
            return group
    if "module" in scopes.values():
        return item.nodeid.split("::", 1)[0]
    return None
