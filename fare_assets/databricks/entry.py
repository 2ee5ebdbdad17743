"""Workspace entry script of fare-assets jobs: `entry.py <module> --dagster-pipes-context ... ...`.

<module> is relative to the fare_assets package: `tasks.build_features`, `databricks.probe`.

Imported into the workspace by the runner and run as a serverless `spark_python_task`; the
task code comes from the fare-assets wheel that the job environment installs. Pipes reads
its bootstrap params from the remaining CLI arguments.
"""

import os
import re
import runpy
import sys


def main() -> None:
    module = sys.argv[1] if len(sys.argv) > 1 else ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*", module):
        raise SystemExit(f"usage: entry.py <module> [pipes arguments]; got {module!r}")
    # Marks the Databricks runtime for fare_assets.tasks.pipes, whatever the runtime sets itself.
    os.environ.setdefault("DATABRICKS_RUNTIME_VERSION", "serverless")
    sys.argv = [f"fare_assets.{module}", *sys.argv[2:]]
    runpy.run_module(f"fare_assets.{module}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
