"""Serverless rules that OSS Spark Connect does not enforce, applied to its client classes.

Used by the fake runtime (sitecustomize.py) in job processes and by the tests' own Spark Connect
session (conftest.py), so that code under test meets them wherever it runs.
"""

from __future__ import annotations

# "[NOT_SUPPORTED_WITH_SERVERLESS] PERSIST TABLE is not supported on serverless compute. SQLSTATE: 0A000"
# (raised by DataFrame.persist() on serverless: https://github.com/capitalone/datacompy/issues/407;
# Databricks: "Databricks recommends moving away from DataFrame.cache() as it is not compatible with
# Databricks serverless compute architecture", https://learn.microsoft.com/azure/databricks/pyspark/reference/classes/dataframe/cache)
PERSIST_ERROR = "[NOT_SUPPORTED_WITH_SERVERLESS] PERSIST TABLE is not supported on serverless compute. SQLSTATE: 0A000"


def refuse_caching(module) -> None:
    """DataFrame.cache/persist/unpersist and the catalog's cache calls fail, in pyspark.sql.connect.{dataframe,catalog}."""
    from pyspark.errors import PySparkException

    def refuse(self, *args, **kwargs):
        raise PySparkException(PERSIST_ERROR)

    for cls, names in (("DataFrame", ("cache", "persist", "unpersist")),
                       ("Catalog", ("cacheTable", "uncacheTable", "clearCache"))):
        for name in names if hasattr(module, cls) else ():
            setattr(getattr(module, cls), name, refuse)


def refuse_confs(module, allowed) -> None:
    """Only the confs serverless documents as settable can be set (pyspark.sql.connect.conf):
    https://learn.microsoft.com/azure/databricks/release-notes/serverless ("only the following Spark
    configuration parameters can be set": spark.sql.legacy.timeParserPolicy, spark.sql.session.timeZone, ...).
    The error text is the one Databricks gives for other confs (CONFIG_NOT_AVAILABLE)."""
    from pyspark.errors import PySparkException

    allowed = set(allowed)
    set_conf = module.RuntimeConf.set

    def set_if_allowed(self, key, value):
        if key not in allowed:
            raise PySparkException(f"[CONFIG_NOT_AVAILABLE] Configuration {key} is not available. SQLSTATE: 42K0I")
        return set_conf(self, key, value)

    module.RuntimeConf.set = set_if_allowed
