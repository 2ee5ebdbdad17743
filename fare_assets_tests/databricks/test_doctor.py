"""`fare-assets doctor` finds what is wrong with a Databricks configuration and names the fix."""

from __future__ import annotations

import pytest

from fare_assets.databricks.doctor import doctor, run_checks
from fare_assets.settings import Settings
from fare_assets_tests.databricks.fake_workspace import FakeWorkspace

VOLUME = "/Volumes/main/ml_serving/fare_assets"


def settings(tmp_path, volume: str = VOLUME) -> Settings:
    return Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": volume,
                              "FARE_ASSETS_HOME": str(tmp_path)})



def test_a_complete_configuration_passes_every_check_including_a_serverless_probe(workspace, tmp_path):
    lines = []
    assert doctor(settings(tmp_path), echo=lines.append) == 0
    assert lines[-1] == "9 passed, 0 failed"
    assert any("serverless jobs" in line and "probe run" in line for line in lines)


def test_no_credentials_fail_authentication_with_the_fix(workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABRICKS_TOKEN")
    [check] = run_checks(settings(tmp_path), probe=False)
    assert (check.name, check.ok) == ("authentication", False)
    assert "DATABRICKS_CONFIG_PROFILE" in check.fix and "databricks auth login" in check.fix


def test_a_missing_volume_names_the_create_statement(workspace, tmp_path):
    found = {c.name: c for c in run_checks(settings(tmp_path, "/Volumes/main/ml_serving/other"), probe=False)}
    assert not found["volume"].ok
    assert found["volume"].fix == "CREATE VOLUME main.ml_serving.other"
    assert "volume write" not in found  # nothing else is checked against a missing volume


def test_missing_privileges_are_listed_with_the_grant(tmp_path, monkeypatch):
    with FakeWorkspace(tmp_path / "ws", privileges=("USE_SCHEMA", "READ_VOLUME")) as fake:
        found = {c.name: c for c in run_checks(settings(tmp_path), fake.client(), probe=False)}
    assert found["schema privileges"].fix == "GRANT CREATE_TABLE, CREATE_MODEL ON SCHEMA main.ml_serving TO `<you>`"
    assert "WRITE_VOLUME" in found["volume privileges"].detail


def test_a_badly_formed_volume_setting_is_reported_first(tmp_path):
    bad = Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": "/Volumes/main",
                             "FARE_ASSETS_HOME": str(tmp_path)})
    [check] = run_checks(bad, probe=False)
    assert check.fix == "set FARE_ASSETS_VOLUME=/Volumes/<catalog>/<schema>/<volume>"
