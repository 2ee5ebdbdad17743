"""A local task dies with the Dagster run that launched it.

Killed with SIGKILL, a Dagster run cannot stop its Pipes subprocess: re-parented, the task would
go on and register versions, move aliases or write windows that Dagster never records. So the task
asks the kernel to kill it when its parent dies (Linux prctl PR_SET_PDEATHSIG), or, where that is
not available, watches its parent from a thread. Delta commits and registry calls are atomic, so a
task killed between two of them leaves each either done or not done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time

PARENT_PID_ENV = "FARE_ASSETS_RUN_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    parent = os.environ.get(PARENT_PID_ENV)
    if not parent:
        return  # run by hand, not by a Dagster run
    if not _kernel_kills_us_with(signal.SIGKILL):
        threading.Thread(target=_watch, args=(int(parent),), name="lifeline", daemon=True).start()
    if os.getppid() != int(parent):  # the run died before we asked
        os.kill(os.getpid(), signal.SIGKILL)


def _kernel_kills_us_with(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)
