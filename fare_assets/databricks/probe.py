"""A task that proves the Databricks path works: the environment installed, Pipes round-trips.

Run by `fare-assets doctor --run-probe` and by the tests; it reports where the task code and
the pinned packages came from, and echoes its params.
"""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version

from fare_assets.databricks.wheel import PACKAGE_DIR, PINNED_PACKAGES
from fare_assets.tasks.pipes import open_task_pipes


def installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def main() -> None:
    with open_task_pipes() as context:
        context.log.info("fare-assets probe running")
        time.sleep(float(context.extras.get("params", {}).get("sleep_seconds", 0)))
        context.report_asset_materialization(metadata={
            "python": platform.python_version(),
            "task_code": str(PACKAGE_DIR / "__init__.py"),
            **{f"version_{name}": installed(name) for name in PINNED_PACKAGES},
            "echo": {"raw_value": context.extras.get("params", {}), "type": "json"},
        })


if __name__ == "__main__":
    main()
