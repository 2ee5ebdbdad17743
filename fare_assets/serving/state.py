"""The serving directory: who is running (state.json), the deploy lock, the admin secret, the logs.

The server writes state.json itself (atomically) whenever what it serves changes, so the file is
the server's own account; the manager adds liveness checks because a crashed server cannot.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_MODULE = "fare_assets.serving.server"


class LockTimeout(RuntimeError):
    pass


@dataclass(frozen=True)
class ServingPaths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def lock(self) -> Path:
        return self.root / "deploy.lock"

    @property
    def secret(self) -> Path:
        return self.root / "admin.secret"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    def ensure(self) -> ServingPaths:
        self.root.mkdir(parents=True, exist_ok=True)
        return self


def write_json_atomically(path: Path, data: dict, mode: int = 0o644) -> None:
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(scratch, path)


def read_state(paths: ServingPaths) -> dict | None:
    try:
        return json.loads(paths.state.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def new_secret(paths: ServingPaths) -> str:
    """A per-start secret for the admin routes, readable only by the user who deploys."""
    secret = secrets.token_urlsafe(32)
    paths.secret.unlink(missing_ok=True)
    fd = os.open(paths.secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


def read_secret(paths: ServingPaths) -> str | None:
    try:
        return paths.secret.read_text().strip() or None
    except FileNotFoundError:
        return None


def server_alive(pid: int | None) -> bool:
    """True if `pid` is a live (not zombie) process running our server module: a recycled pid
    belonging to something else must never be mistaken for the server, or be signalled."""
    if not pid:
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        if Path("/proc/self").exists():
            return False
        try:  # no procfs (macOS): fall back to a signal-0 probe
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    process_state = stat.rsplit(")", 1)[1].split()[0]
    return process_state not in ("Z", "X") and SERVER_MODULE.encode() in cmdline


@contextmanager
def deploy_lock(paths: ServingPaths, timeout: float = 300.0) -> Iterator[None]:
    """An exclusive flock on the serving directory: deploys and stops never overlap, across
    processes (and across threads, since each holder opens its own file description)."""
    paths.ensure()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"another deploy or stop held {paths.lock} for over {timeout:.0f} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock; the kernel releases it too if the holder dies, so none goes stale
