"""serving_endpoint: make the endpoint serve the Champion's explicit version, then verify it."""

from __future__ import annotations

from fare_assets.tasks.pipes import open_task_pipes, task_settings
from fare_assets.tasks.registry import CHAMPION, alias_version, connect


def open_endpoint(settings):
    if settings.target == "databricks":
        from fare_assets.databricks.serving import DatabricksEndpoint

        return DatabricksEndpoint.from_settings(settings)
    from fare_assets.serving.manager import LocalEndpoint

    return LocalEndpoint.from_settings(settings)


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        client = connect(settings)
        # Resolve the alias once, here: the endpoint is told a version, never an alias.
        version = alias_version(client, settings.registered_model_name, CHAMPION)
        if version is None:
            raise RuntimeError(f"{settings.registered_model_name} has no {CHAMPION}: run champion_alias first")
        result = open_endpoint(settings).deploy(version)
        context.report_asset_materialization(
            metadata={
                "url": {"raw_value": result.url, "type": "url"},
                "endpoint": settings.endpoint_name,
                "served_version": result.version,
                "previous_version": result.previous_version if result.previous_version is not None else "none",
                "started_new_process": result.started,
                "verification_latency_ms": round(result.verify_latency_ms, 2),
            },
            data_version=str(result.version),
        )


if __name__ == "__main__":
    main()
