"""The one place that picks the target: `open_target(settings)` builds the local or the Databricks
backends (trip source, table store, registry, endpoint, batch scorer, task runner), each behind the
interfaces of `backends.interfaces`. Nothing else in the package branches on the target.

Implementations are imported lazily: a local task never imports Spark, and a Pipes task on
Databricks never imports Dagster.
"""

from __future__ import annotations

from fare_assets.backends.interfaces import Target
from fare_assets.settings import Settings


def open_target(settings: Settings) -> Target:
    if settings.target == "databricks":
        from fare_assets.backends.databricks import DatabricksTarget

        return DatabricksTarget(settings)
    from fare_assets.backends.local import LocalTarget

    return LocalTarget(settings)
