"""`fare-assets`: status, stop, replay and doctor beside the Dagster CLI."""

from __future__ import annotations

import argparse
import json
import os
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
    doctor.add_argument("--probe", action="store_true",
                        help="run the serverless probe job that checks each assumption on your workspace (the default)")
    doctor.add_argument("--quick", action="store_true", help="skip the serverless probe run (minutes on a real workspace)")
    reset = commands.add_parser("reset", help="stop the endpoint and delete FARE_ASSETS_HOME (models, tables, run history)")
    reset.add_argument("--yes", action="store_true", help="really delete it")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"fare-assets: {error}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](settings, args)
    except SettingsError as error:  # a home built from other data, or one that cannot be written
        print(f"fare-assets: {error}", file=sys.stderr)
        return 2


def run_status(settings: Settings, args) -> int:
    from fare_assets.status import NoHome, collect_status, format_status

    try:
        status = collect_status(settings)
    except NoHome as error:
        print(f"fare-assets status: {error}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2, default=str) if args.json else format_status(status))
    return 0


def run_reset(settings: Settings, args) -> int:
    from fare_assets.home import reset_home

    if not args.yes:
        print(f"fare-assets reset deletes {settings.home} (models, tables, endpoint state, run history); "
              "run it again with --yes to do so", file=sys.stderr)
        return 2
    print(f"deleted {settings.home}" if reset_home(settings) else f"nothing to delete at {settings.home}")
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
    from fare_assets.backends import open_target

    return open_target(settings).doctor(probe=not args.quick)


def exit_now(code: int) -> None:
    """Leave without interpreter teardown: after in-process Dagster runs and Delta reads, native
    thread pools (Arrow, delta-rs) sometimes abort in their destructors at exit ("terminate called
    without an active exception", exit 134) although all work is done and committed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


COMMANDS = {"status": run_status, "stop": run_stop, "replay": run_replay, "doctor": run_doctor, "reset": run_reset}

def run() -> None:
    """The `fare-assets` console script."""
    exit_now(main())


if __name__ == "__main__":
    run()
