"""`fare-assets`: status, stop and replay beside the Dagster CLI."""

from __future__ import annotations

import argparse
import json
import sys

from fare_assets.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fare-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="registry, endpoint, tables, watermark, newest monitoring row")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    commands.add_parser("stop", help="stop the local serving endpoint")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"fare-assets: {error}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


def run_status(settings: Settings, args) -> int:
    from fare_assets.status import collect_status, format_status

    status = collect_status(settings)
    print(json.dumps(status, indent=2, default=str) if args.json else format_status(status))
    return 0


def run_stop(settings: Settings, args) -> int:
    from fare_assets.serving.manager import LocalEndpoint

    stopped = LocalEndpoint.from_settings(settings).stop()
    print("endpoint stopped" if stopped else "endpoint was not running")
    return 0


COMMANDS = {"status": run_status, "stop": run_stop}

if __name__ == "__main__":
    sys.exit(main())
