"""A spare interpreter runs the task it is handed as `python -m <task>` would, serves only the
environment it was started for, and never outlives the process that started it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fare_assets.resources.spare_interpreters import SpareInterpreters
from fare_assets.tasks.spare import READY

PROBE = "fare_assets_tests.tasks.spare_probe"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def spares(monkeypatch):
    monkeypatch.chdir(REPO)  # the probe is imported from the working directory, as `-m` would
    spares = SpareInterpreters()
    yield spares
    spares.close()


def run_probe(spares: SpareInterpreters, tmp_path: Path, **env: str) -> tuple[int, dict]:
    out = tmp_path / "found.json"
    process = spares.launch(PROBE, {"PROBE_OUT": str(out), **env})
    return process.wait(timeout=120), json.loads(out.read_text())


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_until_ready(pid: int) -> None:
    deadline = time.monotonic() + 120
    while READY.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the spare never finished its imports"
        time.sleep(0.05)


def test_a_handed_over_task_runs_under_its_own_command_line_with_its_environment_and_the_imports_made(spares, tmp_path):
    spares.start_spare()
    spare_pid = spares.waiting.pid
    wait_until_ready(spare_pid)

    code, found = run_probe(spares, tmp_path, PROBE_VALUE="from the hand-over")

    assert code == 0 and spares.handed_over == 1 and spares.started_cold == 0
    assert found["cmdline"] == f"{sys.executable} -m {PROBE}"  # what ps, and the fault tests, look for
    assert found["argv0"].endswith("spare_probe.py")
    assert found["value"] == "from the hand-over"
    assert found["pandas_already_imported"]
    assert not found["stdin_is_pipe_to_parent"]
    assert spares.waiting is None and gone(spare_pid)


def test_a_task_failing_in_a_spare_exits_non_zero_with_its_traceback(spares, tmp_path, capfd):
    spares.start_spare()

    code, _ = run_probe(spares, tmp_path, PROBE_RAISE="the rows were malformed")

    assert code == 1
    assert "ValueError: the rows were malformed" in capfd.readouterr().err


def test_a_spare_never_serves_an_environment_it_was_not_started_in(spares, tmp_path, monkeypatch):
    spares.start_spare()
    stale = spares.waiting
    monkeypatch.setenv("FARE_ASSETS_SOURCE", "another source")

    code, found = run_probe(spares, tmp_path)

    assert code == 0 and spares.handed_over == 0 and spares.started_cold == 1
    assert found["cmdline"] == f"{sys.executable} -m {PROBE}"
    assert stale.poll() is not None  # ended, not left waiting


def test_a_spare_started_by_another_thread_is_not_used(spares, tmp_path):
    """The kernel ends a spare when the thread that started it ends (PR_SET_PDEATHSIG), so only
    that thread may hand it a task: here the other thread is still alive, and so is its spare."""
    started, launched = threading.Event(), threading.Event()

    def start_and_stay():
        spares.start_spare()
        started.set()
        launched.wait(timeout=120)

    starter = threading.Thread(target=start_and_stay)
    starter.start()
    started.wait(timeout=60)
    other_threads_spare = spares.waiting
    assert other_threads_spare.poll() is None

    code, _ = run_probe(spares, tmp_path)
    launched.set()
    starter.join()

    assert code == 0 and spares.handed_over == 0 and spares.started_cold == 1


def test_a_spare_without_a_task_ends_when_its_pipe_closes(spares):
    spares.start_spare()
    spare = spares.waiting
    wait_until_ready(spare.pid)

    spare.stdin.close()

    assert spare.wait(timeout=60) == 0


@pytest.mark.parametrize("when", ["while-importing", "while-waiting"])
def test_a_spare_ends_when_the_process_that_started_it_is_killed(when):
    wait = "wait_until_ready(spares.waiting.pid); " if when == "while-waiting" else ""
    script = ("import os, signal; from fare_assets.resources.spare_interpreters import SpareInterpreters; "
              "from fare_assets_tests.tasks.test_spare_interpreters import wait_until_ready; "
              "spares = SpareInterpreters(); spares.start_spare(); print(spares.waiting.pid, flush=True); "
              f"{wait}os.kill(os.getpid(), signal.SIGKILL)")
    starter = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=180)
    spare_pid = int(starter.stdout.split()[0])

    deadline = time.monotonic() + 30
    while not gone(spare_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(spare_pid), f"spare {spare_pid} outlived the process that started it"


def test_a_spare_handed_a_task_stops_importing_ahead_and_leaves_the_rest_to_the_task():
    script = ("import os, sys; from fare_assets.tasks.spare import preload; r, w = os.pipe(); "
              "os.write(w, b'{}\\n'); preload(os.fdopen(r)); print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
