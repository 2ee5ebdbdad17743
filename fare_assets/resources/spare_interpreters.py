"""Spare task interpreters: the next local task starts in a Python that has already made its imports.

Each local task is a fresh interpreter (a Pipes subprocess), and about 1 s of each is importing
pandas, deltalake, scikit-learn, scipy and mlflow. When more tasks will follow in this process (a
run's later steps, or the next run of a replay), the runner starts one spare
(`fare_assets.tasks.spare`) while the current task works, and hands it the next task. A spare
serves only what it was started for: the same interpreter, working directory, environment and
launching thread; anything else gets a fresh interpreter, as before. Where no task follows, no
spare is started; one left unused ends when this process closes its pipe or dies.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from fare_assets.tasks.lifeline import PARENT_PID_ENV
from fare_assets.tasks.spare import HANDED_OVER_ENV

SPARE_MODULE = "fare_assets.tasks.spare"


@dataclass
class _Spare:
    process: subprocess.Popen
    fits: str


class SpareInterpreters:
    def __init__(self) -> None:
        self._spare: _Spare | None = None
        self._lock = threading.Lock()
        self._runs_to_follow = 0
        self._run_steps: tuple[str, set[str]] = ("", set())
        self.handed_over = 0
        self.started_cold = 0

    @staticmethod
    def _fit() -> str:
        """What a spare must match: interpreter, working directory, environment and the thread that
        started it (a child asks the kernel to end it when that thread ends: PR_SET_PDEATHSIG)."""
        state = json.dumps([sys.executable, os.getcwd(), sorted(os.environ.items()), threading.get_ident()])
        return hashlib.sha256(state.encode()).hexdigest()

    def launch(self, module: str, env: Mapping[str, str]) -> subprocess.Popen:
        """A process running `python -m <module>` with this process's environment plus `env`: a spare
        that fits, handed the module, or else a fresh interpreter."""
        spare = self._take()
        if spare is not None:
            # Stamped here, so the task's start-up counts any imports the spare had not finished yet.
            order = json.dumps({"module": module, "env": {**env, HANDED_OVER_ENV: repr(time.time())}}) + "\n"
            try:
                spare.process.stdin.write(order.encode())
                spare.process.stdin.close()
                self.handed_over += 1
                return spare.process
            except (BrokenPipeError, OSError):  # it died since we checked: start one as before
                spare.process.wait()
        self.started_cold += 1
        return subprocess.Popen([sys.executable, "-m", module], env={**os.environ, **env})

    def _take(self) -> _Spare | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.process.poll() is None and spare.fits == self._fit():
            return spare
        _discard(spare)
        return None

    def start_spare(self) -> None:
        """Start a spare for the next task unless one that fits is already waiting."""
        fit = self._fit()
        waiting = self._spare
        if waiting is not None and waiting.fits == fit and waiting.process.poll() is None:
            return
        self.close()
        process = subprocess.Popen([sys.executable, "-m", SPARE_MODULE], stdin=subprocess.PIPE,
                                   env={**os.environ, PARENT_PID_ENV: str(os.getpid())})
        with self._lock:
            self._spare = _Spare(process, fit)

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            _discard(spare)

    @property
    def waiting(self) -> subprocess.Popen | None:
        return self._spare.process if self._spare is not None else None

    def steps_started(self, run_id: str, step: str) -> set[str]:
        """Record that `step` of run `run_id` launched its task; the steps of that run started so far."""
        if self._run_steps[0] != run_id:
            self._run_steps = (run_id, set())
        self._run_steps[1].add(step)
        return self._run_steps[1]

    @property
    def runs_follow(self) -> bool:
        return self._runs_to_follow > 0

    @contextmanager
    def runs_will_follow(self) -> Iterator[None]:
        """Within this block more runs follow the current one (a replay), so the last task of a run
        also leaves a spare behind for the next run's first task."""
        self._runs_to_follow += 1
        try:
            yield
        finally:
            self._runs_to_follow -= 1
            if not self._runs_to_follow:
                self.close()


def _discard(spare: _Spare) -> None:
    """End a spare that was never handed a task (it holds no state; it may still be importing, so it
    is killed rather than asked), and reap it."""
    spare.process.kill()
    spare.process.wait()
    try:
        spare.process.stdin.close()
    except OSError:
        pass


SPARES = SpareInterpreters()
atexit.register(SPARES.close)
