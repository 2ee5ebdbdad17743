"""serving_endpoint: make the endpoint serve the Champion's explicit version, then verify it."""

from __future__ import annotations

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import CHAMPION
from fare_assets.tasks.pipes import open_task_pipes, run_task, task_settings


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        target = open_target(settings)
        # Resolve the alias once, here: the endpoint is told a version, never an alias.
        version = target.registry().alias_version(CHAMPION)
        if version is None:
            raise RuntimeError(f"{settings.registered_model_name} has no {CHAMPION}: run champion_alias first")
        context.log.info(f"deploying {settings.registered_model_name} version {version} (the {CHAMPION})")
        result = target.endpoint().deploy(version)
        context.log.info(f"{settings.endpoint_name} serves version {result.version}, verified by a test "
                         f"prediction in {result.verify_latency_ms:.0f} ms: POST {result.url}")
        if result.first_query_ms is not None:
            context.log.info(f"the first test query took {result.first_query_ms:.0f} ms "
                             "(an endpoint scaled to zero answers it after a cold start)")
        cold_start = {} if result.first_query_ms is None else {"first_query_ms": round(result.first_query_ms, 2)}
        context.report_asset_materialization(
            metadata={
                **cold_start,
                # A link opens with GET: to the endpoint's description; the invocation URL takes POST.
                "endpoint_page": {"raw_value": result.page_url, "type": "url"},
                "invocation_url": result.url,
                "endpoint": settings.endpoint_name,
                "served_version": result.version,
                "previous_version": result.previous_version if result.previous_version is not None else "none",
                "started_new_process": result.started,
                "verification_latency_ms": round(result.verify_latency_ms, 2),
            },
            data_version=str(result.version),
        )


if __name__ == "__main__":
    run_task(main)
