"""What `fare-assets status` reports: registry, endpoint, tables, watermark, newest monitoring row.

It only reads: run in a folder with no home, it says so and creates nothing.
"""

from __future__ import annotations

import json

from fare_assets.backends import open_target
from fare_assets.backends.history import read_history
from fare_assets.backends.interfaces import CHALLENGER, CHAMPION, MONITORING_TABLE, TABLES
from fare_assets.home import check_home, recorded_identity
from fare_assets.settings import Settings


class NoHome(RuntimeError):
    """There is nothing to report on: the home does not exist."""


def collect_status(settings: Settings) -> dict:
    if not settings.home.is_dir():
        raise NoHome(f"no fare-assets home at {settings.home}: run the quick start "
                     "(uv run dagster asset materialize -m fare_assets --select '*'), or set FARE_ASSETS_HOME")
    check_home(settings, claim=False)
    target = open_target(settings)
    registry, store = target.registry(), target.table_store()
    watermark = read_history(store).watermark
    champion = registry.alias_version(CHAMPION)
    return {
        "home": str(settings.home),
        "built_from": recorded_identity(settings),
        "target": target.name,
        "registered_model": settings.registered_model_name,
        "tracking_uri": registry.tracking_uri,
        "tracking_ui": target.tracking_ui(),
        "champion_version": champion,
        "champion_baseline": champion_baseline(registry, champion),
        "challenger_version": registry.alias_version(CHALLENGER),
        "endpoint": target.endpoint().status() or {"url": settings.serving_url, "running": False},
        "tables": {t: {"location": store.location(t), "rows": store.count(t)} for t in TABLES},
        "watermark": str(watermark) if watermark is not None else None,
        "latest_monitoring": latest_monitoring(store),
    }


def champion_baseline(registry, version: int | None) -> str | None:
    """Where monitoring's baseline for the Champion comes from, when it is not its own holdout: a
    Champion kept through a shift's last retraining run is judged against its newest post-shift
    week (tasks/promote_champion.py)."""
    if version is None:
        return None
    tags = registry.version_tags(version)
    if "baseline_remade_on" not in tags:
        return None
    return (f"remade on {tags['baseline_remade_on']}"
            + (f", after the shift from {tags['baseline_remade_after_shift']}" if tags.get("baseline_remade_after_shift") else ""))


def latest_monitoring(store) -> dict | None:
    rows = store.read(MONITORING_TABLE)
    if rows is None or rows.empty:
        return None
    newest = rows.sort_values("monitored_at").iloc[-1].drop(labels=["details"], errors="ignore")
    return json.loads(newest.to_json(date_format="iso"))


def format_status(status: dict) -> str:
    endpoint = status["endpoint"]
    lines = [
        f"home                {status['home']}",
        f"target              {status['target']}",
        f"registered model    {status['registered_model']}",
        f"tracking URI        {status['tracking_uri']}",
        f"tracking UI         {status['tracking_ui']}",
        f"Champion            {status['champion_version'] or 'none'}"
        + (f" (monitoring baseline {status['champion_baseline']})" if status.get("champion_baseline") else ""),
        f"Challenger          {status['challenger_version'] or 'none'}",
        f"endpoint            {endpoint.get('url')} "
        + (f"serving version {endpoint.get('version')} (pid {endpoint.get('pid')})"
           if endpoint.get("version") is not None else "not running"),
        f"watermark           {status['watermark'] or 'none (no training yet)'}",
        "tables",
    ]
    width = max(len(name) for name in status["tables"]) + 2
    for name, table in status["tables"].items():
        rows = "missing" if table["rows"] is None else f"{table['rows']:,} row{'s' if table['rows'] != 1 else ''}"
        lines.append(f"  {name:<{width}}{rows:>12}  {table['location']}")
    monitoring = status["latest_monitoring"]
    lines.append("latest monitoring   " + ("none" if monitoring is None else
                 f"{monitoring['window_end']}: {monitoring['status']}, rows={monitoring['rows']}, "
                 f"should_retrain={monitoring['should_retrain']}, fired={monitoring['fired']}"))
    return "\n".join(lines)
