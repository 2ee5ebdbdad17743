"""The Dagster instance under $FARE_ASSETS_HOME/dagster, for the Dagster CLI and our own commands.

Run from the repository root without DAGSTER_HOME, the Dagster CLI (`dagster dev`,
`dagster asset materialize`, `dg`) reads ./dagster.yaml, whose storage classes below resolve
$FARE_ASSETS_HOME when the instance is created: the shell's FARE_ASSETS_HOME moves Dagster's
history with everything else, and no committed file overrides it. A user's own DAGSTER_HOME wins
over both, for the Dagster CLI and for `fare-assets` commands alike.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from fare_assets.settings import Settings

INSTANCE_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
"""


def home_instance_dir() -> str:
    """$FARE_ASSETS_HOME/dagster, created on first use: the layout of DagsterInstance.from_config."""
    folder = Path(Settings.from_env().dagster_home)
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


class _InHome:
    """A storage class with no configuration: its folder is $FARE_ASSETS_HOME/dagster[/subfolder],
    resolved when the instance is created."""

    subfolder = ""

    @classmethod
    def config_type(cls):
        return {}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(os.path.join(home_instance_dir(), cls.subfolder), inst_data=inst_data)


class HomeSqliteStorage(_InHome, DagsterSqliteStorage):
    """Runs, event logs and schedule/sensor state."""


class HomeArtifactStorage(_InHome, LocalArtifactStorage):
    """Files of runs."""


class HomeComputeLogManager(_InHome, LocalComputeLogManager):
    """Captured stdout/stderr of steps, where DagsterInstance.from_config puts them."""

    subfolder = "storage"


def open_instance(settings: Settings) -> DagsterInstance:
    """The instance the Dagster CLI uses for these settings: DAGSTER_HOME's if set, else the home's."""
    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    root = settings.dagster_home
    root.mkdir(parents=True, exist_ok=True)
    config = root / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return DagsterInstance.from_config(str(root))
