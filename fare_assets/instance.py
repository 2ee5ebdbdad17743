"""The persistent Dagster instance under $FARE_ASSETS_HOME/dagster, for our own commands and tests."""

from __future__ import annotations

from dagster import DagsterInstance

from fare_assets.settings import Settings

# Same storage layout as the repository's .dagster/dagster.yaml gives the Dagster CLI.
INSTANCE_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
"""


def open_instance(settings: Settings) -> DagsterInstance:
    root = settings.dagster_home
    root.mkdir(parents=True, exist_ok=True)
    config = root / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return DagsterInstance.from_config(str(root))
