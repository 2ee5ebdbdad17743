"""What `fare-assets status` reports: registry, endpoint, tables, watermark, newest monitoring row."""

from __future__ import annotations

import json

from fare_assets.settings import Settings
from fare_assets.tasks.common import (
    BASELINE_TABLE, FEATURE_TABLE, MONITORING_TABLE, PREDICTIONS_TABLE, WATERMARK_TABLE, current_watermark,
)
from fare_assets.tasks.storage import open_table_store

TABLES = (FEATURE_TABLE, BASELINE_TABLE, PREDICTIONS_TABLE, WATERMARK_TABLE, MONITORING_TABLE)


def collect_status(settings: Settings) -> dict:
    from fare_assets.tasks.deploy_endpoint import open_endpoint
    from fare_assets.tasks.registry import CHALLENGER, CHAMPION, alias_version, connect

    client = connect(settings)
    model = settings.registered_model_name
    store = open_table_store(settings)
    watermark = current_watermark(store, settings)
    return {
        "target": settings.target,
        "registered_model": model,
        "tracking_uri": settings.tracking_uri,
        "champion_version": alias_version(client, model, CHAMPION),
        "challenger_version": alias_version(client, model, CHALLENGER),
        "endpoint": open_endpoint(settings).status() or {"url": settings.serving_url, "running": False},
        "tables": {t: {"location": store.location(t), "rows": store.count(t)} for t in TABLES},
        "watermark": str(watermark) if watermark is not None else None,
        "latest_monitoring": latest_monitoring(store),
    }


def latest_monitoring(store) -> dict | None:
    rows = store.read(MONITORING_TABLE)
    if rows is None or rows.empty:
        return None
    newest = rows.sort_values("monitored_at").iloc[-1].drop(labels=["details"], errors="ignore")
    return json.loads(newest.to_json(date_format="iso"))


def format_status(status: dict) -> str:
    endpoint = status["endpoint"]
    lines = [
        f"target              {status['target']}",
        f"registered model    {status['registered_model']}",
        f"tracking URI        {status['tracking_uri']}",
        f"Champion            {status['champion_version'] or 'none'}",
        f"Challenger          {status['challenger_version'] or 'none'}",
        f"endpoint            {endpoint.get('url')} "
        + (f"serving version {endpoint.get('version')} (pid {endpoint.get('pid')})"
           if endpoint.get("version") is not None else "not running"),
        f"watermark           {status['watermark'] or 'none (no training yet)'}",
        "tables",
    ]
    for name, table in status["tables"].items():
        rows = "missing" if table["rows"] is None else f"{table['rows']:,} rows"
        lines.append(f"  {name:<22}{rows:<14}{table['location']}")
    monitoring = status["latest_monitoring"]
    lines.append("latest monitoring   " + ("none" if monitoring is None else
                 f"{monitoring['window_end']}: {monitoring['status']}, rows={monitoring['rows']}, "
                 f"should_retrain={monitoring['should_retrain']}, fired={monitoring['fired']}"))
    return "\n".join(lines)
