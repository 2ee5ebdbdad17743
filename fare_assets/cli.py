"""`fare-assets`: status, stop, replay and doctor beside the Dagster CLI."""

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
    replay = commands.add_parser(
        "replay", help="score and monitor the source window by window up to DATE, retraining when the drift sensor asks")
    replay.add_argument("--until", required=True, type=parse_until, metavar="DATE",
                        help="stop once the watermark reaches this date (YYYY-MM-DD or ISO datetime)")
    replay.add_argument("--json", action="store_true", help="one JSON object per step")
    doctor = commands.add_parser("doctor", help="check a Databricks configuration and name a fix for each failure")
    doctor.add_argument("--quick", action="store_true", help="skip the serverless probe run (minutes on a real workspace)")
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


def parse_until(raw: str):
    import pandas as pd

    try:
        return pd.Timestamp(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date: write YYYY-MM-DD") from None


def run_replay(settings: Settings, args) -> int:
    from fare_assets.replay import Replay, ReplayError
    from fare_assets.replay_output import print_replay, reserved_stdout

    with reserved_stdout() as out:
        try:
            return print_replay(Replay(settings), args.until, args.json, out)
        except ReplayError as error:
            print(f"fare-assets replay: {error}", file=sys.stderr)
            return 1


def run_doctor(settings: Settings, args) -> int:
    if settings.target != "databricks":
        print("fare-assets doctor checks the Databricks target: set FARE_ASSETS_TARGET=databricks "
              "and FARE_ASSETS_VOLUME (see docs/databricks.md); the local target needs no setup")
        return 2
    from fare_assets.databricks.doctor import doctor

    return doctor(settings, probe=not args.quick)


COMMANDS = {"status": run_status, "stop": run_stop, "replay": run_replay, "doctor": run_doctor}

if __name__ == "__main__":
    sys.exit(main())
