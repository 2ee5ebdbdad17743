"""How `fare-assets replay` prints: one line (or JSON object) per step, a progress bar on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pandas as pd
from tqdm import tqdm

from fare_assets.replay import Replay, Step


@contextmanager
def reserved_stdout() -> Iterator[TextIO]:
    """Our stdout, for step lines only: everything else written to fd 1 (task subprocesses,
    libraries) goes to stderr for the duration, so `--json` output stays parseable."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    out = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield out
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        out.close()


def format_training(trained: dict) -> str:
    outcome = "promoted" if trained["promoted"] else f"kept Champion v{trained['champion_version']}"
    judged = (f" (MAE ${trained['challenger_mae']:.2f} vs ${trained['champion_mae']:.2f})"
              if isinstance(trained.get("champion_mae"), (int, float)) else "")
    shift = f", shift began {trained['shift_start'][:10]}" if trained.get("shift_start") else ""
    rows = f", {trained['rows']:,} trips" if "rows" in trained else ""
    return (f"training {trained['train_start'][:10]}..{trained['train_end'][:10]}{rows}{shift}: "
            f"v{trained['version']} {outcome}{judged}, serving v{trained['served_version']} ({trained['seconds']:.0f} s)")


def format_step(step: Step) -> str:
    mae = f"MAE ${step.mae:.2f}" if step.mae is not None else "MAE   -  "
    if not step.monitored:
        monitor = "not monitored"
    elif step.should_retrain:
        monitor = "DRIFT " + ", ".join(step.fired)
    else:
        monitor = f"monitor {step.monitoring_status}"
    parts = [f"{pd.Timestamp(step.window_end):%Y-%m-%d %H:%M}", f"{step.rows:>7,} trips", mae,
             f"{monitor:<28}", f"Champion v{step.champion_version}"]
    parts += [format_training(t) for t in step.retrained]
    if step.sensor_skipped and not step.retrained:
        parts.append(f"no retraining: {step.sensor_skipped}")
    return "  ".join(parts) + f"  ({step.seconds:.1f} s)"


def print_replay(replay: Replay, until: pd.Timestamp, as_json: bool, out: TextIO) -> int:
    initial = replay.ensure_champion()
    if initial is not None:
        print(f"no Champion yet: {format_training(initial)}", file=sys.stderr)
    with tqdm(total=replay.planned_steps(until), unit="window", file=sys.stderr, disable=None,
              leave=False, dynamic_ncols=True) as bar:
        count = 0
        for step in replay.steps(until):
            line = json.dumps(step.as_dict()) if as_json else format_step(step)
            bar.write(line, file=out)
            bar.update()
            count += 1
    print(f"replayed {count} window(s); watermark {replay.watermark()}", file=sys.stderr)
    if replay.stopped_because:
        print(f"stopped before {until}: {replay.stopped_because}", file=sys.stderr)
    # Replaying nothing because there is no history or no data is an error a script must see.
    return 1 if count == 0 and replay.stopped_because else 0
