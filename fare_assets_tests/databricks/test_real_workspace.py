"""Against a real workspace: run with DATABRICKS_HOST (and a token or profile) and FARE_ASSETS_VOLUME set."""

from __future__ import annotations

import os

import pytest

from fare_assets.databricks.doctor import run_checks
from fare_assets.settings import Settings

pytestmark = [
    pytest.mark.databricks,
    pytest.mark.skipif(not os.environ.get("DATABRICKS_HOST"), reason="needs a real workspace: set DATABRICKS_HOST"),
]


def real_settings() -> Settings:
    if not os.environ.get("REAL_FARE_ASSETS_VOLUME"):
        pytest.skip("set REAL_FARE_ASSETS_VOLUME=/Volumes/<catalog>/<schema>/<volume> (the suite clears FARE_ASSETS_*)")
    catalog, schema = os.environ["REAL_FARE_ASSETS_VOLUME"].split("/")[2:4]
    return Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": os.environ["REAL_FARE_ASSETS_VOLUME"],
                              "FARE_ASSETS_CATALOG": catalog, "FARE_ASSETS_SCHEMA": schema})


def test_the_real_workspace_passes_the_doctor_with_a_serverless_probe():
    failed = [c.line() for c in run_checks(real_settings(), probe=True) if not c.ok]
    assert not failed, "\n".join(failed)
