"""Where the quick start's and a replay step's seconds go, against a baseline commit side by side.

For each round, and for this checkout and the baseline (extracted with `git archive`, run with the
same virtual environment through PYTHONPATH), in a fresh FARE_ASSETS_HOME and DAGSTER_HOME:
- the README's `dagster asset materialize -m fare_assets --select '*'` twice (a new home, then a
  later run in the same home), wall time of the whole command;
- seven weekly replay steps on the real 2019 samples (`fare-assets replay`), after training on them:
  the command's wall time over the windows it replayed, each step's own seconds as replay prints
  them, and per task the step's seconds and start-up vs work, from the replay runs' event logs.
Per task, from the run's own log lines: the step's seconds and, where the task reports it, its
start-up (interpreter and module imports) vs its work. Medians over the rounds, and ratios.

    uv run python benchmarks/quickstart_speed.py [--rounds 3] [--baseline-ref bbfac5b] [--replay-only]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATA = REPO.parent / "shared" / "data" / "nyc_tlc"
REPLAY_UNTIL = "2019-04-26"  # 7 weekly windows after the quick start's first (Mar 1-8); no rule fires in them
STEP = re.compile(r' - ([a-z_]+) - STEP_SUCCESS - Finished execution of step "[a-z_]+" in ([0-9.]+)(ms|s)')
TIMING = re.compile(r" - ([a-z_]+) - task timing: start-up ([0-9.]+) s, work ([0-9.]+) s")
REPLAYED = re.compile(r"^replayed (\d+) window\(s\)", re.M)
STEP_SECONDS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d .* trips .*\(([0-9.]+) s\)$", re.M)
# Replay runs its jobs at log level WARNING, so their step times and task timings are read back
# from the instance's event log, in the same lines as a materialize run prints them.
REPLAY_EVENTS = """
from dagster import DagsterInstance, RunsFilter
instance = DagsterInstance.get()
for run in instance.get_runs(RunsFilter(tags={"fare_assets/replay": "true"})):
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event and event.event_type_value == "STEP_SUCCESS":
            ms = event.event_specific_data.duration_ms
            print(f' - {event.step_key} - STEP_SUCCESS - Finished execution of step "{event.step_key}" in {ms:.0f}ms')
        elif entry.step_key and "task timing: start-up" in entry.user_message:
            print(f" - {entry.step_key} - {entry.user_message}")
"""


def checkout(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / ".env").unlink(missing_ok=True)  # older checkouts pointed DAGSTER_HOME at themselves
    return into


def environment(code: Path, scratch: Path, **settings: str) -> dict:
    dagster_home = scratch / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARE_ASSETS_", "DAGSTER_"))}
    env.update({"PYTHONPATH": str(code), "DAGSTER_HOME": str(dagster_home),
                "FARE_ASSETS_HOME": str(scratch / "home"), "FARE_ASSETS_SERVING_PORT": str(free_port()),
                "FARE_ASSETS_DAGSTER_STORAGE": str(dagster_home)})
    env.update({f"FARE_ASSETS_{k.upper()}": v for k, v in settings.items()})
    return env


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(command: list[str], env: dict, cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode:
        log = Path(tempfile.mkstemp(prefix="quickstart_speed_failure_", suffix=".log")[1])
        log.write_text(done.stdout + done.stderr)
        raise SystemExit(f"{' '.join(command)} failed in {cwd} (whole output: {log}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def steps(output: str) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for step, value, unit in STEP.findall(output):
        found[step]["step"] = float(value) / (1000 if unit == "ms" else 1)
    for step, startup, work in TIMING.findall(output):
        found[step].update(startup=float(startup), work=float(work))
    return found


def stop_endpoint(code: Path, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "fare_assets.cli", "stop"], env=env, cwd=code, capture_output=True)


def one_round(code: Path, scratch: Path, results: dict, replay_only: bool = False) -> None:
    materialize = [str(BIN / "dagster"), "asset", "materialize", "-m", "fare_assets", "--select", "*"]
    if not replay_only:
        env = environment(code, scratch / "quickstart")
        try:
            for phase in ("quick start, new home", "quick start, later run"):
                seconds, output = timed(materialize, env, code)
                results[phase].append(seconds)
                for step, parts in steps(output).items():
                    for part, value in parts.items():
                        results[f"  {step}: {part}"].append(value)
        finally:
            stop_endpoint(code, env)
    if not DATA.is_dir():
        return
    env = environment(code, scratch / "replay", source=str(DATA / "yellow_tripdata_sample_2019-*.csv"),
                      train_start="2019-01-01", train_end="2019-03-01", batch_window="7d", monitor_window="7d")
    try:
        timed(materialize, env, code)
        # Seven windows: a replay's own start-up (and what its process imports once) is shared by its
        # windows as in a real replay of months, not charged to one or two.
        seconds, output = timed([sys.executable, "-m", "fare_assets.cli", "replay", "--until", REPLAY_UNTIL], env, code)
        # The quick start above already scored the first window (Mar 1-8): count what replay did.
        windows = int(REPLAYED.search(output).group(1))
        results["replay, per weekly window (command / windows)"].append(seconds / windows)
        results["replay, one step as replay prints it"] += [float(v) for v in STEP_SECONDS.findall(output)]
        _, events = timed([sys.executable, "-c", REPLAY_EVENTS], env, code)
        for step, value, unit in STEP.findall(events):  # every window's run, not only the last
            results[f"  replay {step}: step"].append(float(value) / (1000 if unit == "ms" else 1))
        for step, startup, work in TIMING.findall(events):
            results[f"  replay {step}: startup"].append(float(startup))
            results[f"  replay {step}: work"].append(float(work))
    finally:
        stop_endpoint(code, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-ref", default="bbfac5b", help="the commit to compare with (default: before the speed work)")
    parser.add_argument("--replay-only", action="store_true", help="skip the quick start; measure only the replay")
    args = parser.parse_args()
    sides = {"this checkout": defaultdict(list), f"baseline {args.baseline_ref}": defaultdict(list)}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = checkout(args.baseline_ref, Path(tmp) / "baseline")
        codes = {"this checkout": REPO, f"baseline {args.baseline_ref}": baseline}
        for round_number in range(args.rounds):  # interleaved: both sides see the same machine state
            for side, code in codes.items():
                with tempfile.TemporaryDirectory() as scratch:
                    one_round(code, Path(scratch), sides[side], args.replay_only)
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    ours, base = sides.values()
    print(f"medians of {args.rounds} rounds, seconds (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')})")
    print(f"{'what':<50}{'this checkout':>14}{'baseline':>10}{'ratio':>8}")
    for what in ours:
        mine = statistics.median(ours[what])
        theirs = statistics.median(base[what]) if base.get(what) else None
        ratio = f"{mine / theirs:.2f}" if theirs else ""
        shown = f"{theirs:>10.2f}" if theirs is not None else f"{'-':>10}"
        print(f"{what:<50}{mine:>14.2f}{shown}{ratio:>8}")


if __name__ == "__main__":
    main()
