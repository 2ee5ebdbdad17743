"""Where a monitoring window's chart and MLflow run are made: not in a local monitoring task."""

import subprocess
import sys


def test_the_monitoring_task_module_imports_neither_matplotlib_nor_mlflow():
    # Locally the Dagster side draws the chart and logs the run (resources/monitoring_reports.py):
    # the task must not pay their imports (about 2 s of a replay step) by importing them at the top.
    probe = "import sys, fare_assets.tasks.monitor_drift; print(sorted({'matplotlib', 'mlflow'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
