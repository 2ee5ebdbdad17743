"""Run by the spare-interpreter tests as if it were a task: reports what it found, then exits as told."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    found = {
        "pandas_already_imported": "pandas" in sys.modules,
        "cmdline": Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode().strip(),
        "argv0": sys.argv[0],
        "value": os.environ.get("PROBE_VALUE"),
        "stdin_is_pipe_to_parent": not sys.stdin.closed and sys.stdin.name != os.devnull,
    }
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps(found))
    if os.environ.get("PROBE_RAISE"):
        raise ValueError(os.environ["PROBE_RAISE"])
