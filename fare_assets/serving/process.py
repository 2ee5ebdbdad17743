"""Starting and stopping the detached server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fare_assets.serving.state import SERVER_MODULE, ServingPaths, server_alive

# Popen objects of servers this process started: holding them lets us reap a crashed child
# (so it does not linger as a zombie) and keeps Popen from warning that it is still running.
_children: dict[int, subprocess.Popen] = {}


def bytecode_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fare-assets" / "pycache"


def child_env(settings_env: dict[str, str], token: str | None) -> dict[str, str]:
    env = {**os.environ, **settings_env, "PYTHONUNBUFFERED": "1"}
    env.pop("FARE_ASSETS_SERVING_TOKEN", None)
    if token:
        env["FARE_ASSETS_SERVING_TOKEN"] = token
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # Without bytecode the server recompiles mlflow, pandas and sklearn on every start
        # (about 4 s on 2 cores); a private cache keeps the caller's tree free of .pyc files.
        env.setdefault("PYTHONPYCACHEPREFIX", str(bytecode_cache()))
    return env


def port_in_use(host: str, port: int, wait: float = 2.0) -> str | None:
    """Why the port cannot be bound, or None. A server killed a moment ago can hold its socket
    while its threads tear down, so a busy port gets a few seconds to come free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return None
            except OSError as error:
                if time.monotonic() > deadline:
                    return str(error)
        time.sleep(0.1)


def spawn(paths: ServingPaths, version: int, source: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start the server in its own session, so it outlives the Dagster run (and its process group)
    that deployed it; its output goes to a file, never to the caller's pipes."""
    with open(paths.server_log, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--version", str(version), "--source", source],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True, close_fds=True,
        )
    _children[child.pid] = child
    return child


def reap() -> None:
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def terminate(pid: int, grace: float = 15.0) -> None:
    """SIGTERM lets uvicorn finish in-flight requests; SIGKILL only if it does not exit in time."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not server_alive(pid):
            break
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reap()
            if not server_alive(pid):
                break
            time.sleep(0.05)
    reap()


def log_tail(path: Path, offset: int, lines: int = 15) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
