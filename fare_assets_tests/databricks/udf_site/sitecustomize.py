"""Start-up of the fake serverless compute's driver and UDF workers: the project's checkout is not there.

This folder is on the PYTHONPATH of the fake cluster's driver, which its Python UDF workers inherit.
Here the virtualenv has fare_assets installed in editable mode; on Databricks a UDF worker can
import it only if the session ships the job's wheel to it, which Databricks allows from Databricks
Connect 16.4 on ("Not available on Databricks Connect for Databricks Runtime 16.3 and below: On
serverless compute, UDFs cannot include custom libraries",
https://docs.databricks.com/aws/en/dev-tools/databricks-connect/python/limitations). So the
editable finder goes: `fare_assets` is importable only from a session's Python includes.
"""

import sys

sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable___fare_assets")]
