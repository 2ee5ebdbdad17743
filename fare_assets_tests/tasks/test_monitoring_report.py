"""Where a monitoring window's chart and MLflow run are made: not in a local monitoring task."""

import subprocess
import sys


def test_the_monitoring_task_module_imports_neither_matplotlib_nor_mlflow():
    # Locally the Dagster side draws the chart and logs the run (resources/monitoring_reports.py):
    # the task must not pay their imports (about 2 s of a replay step) by importing them at the top.
    probe = "import sys, fare_assets.tasks.monitor_drift; print(sorted({'matplotlib', 'mlflow'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"


def test_what_the_dagster_side_imports_to_report_a_window_leaves_out_the_task_s_statistics():
    # The Dagster process draws and logs the window; it never judges it, so scipy.stats and
    # scikit-learn (about 1 s of imports) stay with the task.
    probe = ("import sys, fare_assets.resources.monitoring_reports, fare_assets.tasks.monitoring_report; "
             "print(sorted({'scipy.stats', 'sklearn'} & set(sys.modules)))")
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
