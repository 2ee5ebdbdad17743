"""The Databricks target: task runner, entry script, Spark data path, Model Serving, doctor.

Modules here import databricks-sdk and Dagster only where they run on the Dagster side
(runner, doctor); `pipes`, `spark` and `serving` also run inside Databricks jobs.
"""
