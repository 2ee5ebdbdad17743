"""LocalEndpoint: deploy an explicit version (start, move or hot-swap), verify it, report status, stop.

Every deploy and stop holds the serving directory's file lock, so two deploys at once serialise:
the second finds the first's server and swaps it. A swap is load -> verify -> atomic switch
inside the running server. A new process (first start, or a new host or port) is started beside
whatever serves, verified on its own address, promoted, and only then is the old one stopped. In
both cases, if the new version or process fails, the old one never stopped serving.

The serving directory is the record: state.json is written by the server that serves (the
server's own account); a process started beside it writes candidate.json until it is promoted.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fare_assets.serving.client import EndpointError, ServerControl
from fare_assets.serving.deploy_result import DeployResult
from fare_assets.settings import Settings, serving_token

__all__ = ["DeployResult", "EndpointError", "LocalEndpoint"]
SERVER_MODULE = "fare_assets.serving.server"
READY_TIMEOUT = 120.0
# Popen objects of servers this process started: holding them lets us reap a crashed child
# (so it does not linger as a zombie) and keeps Popen from warning that it is still running.
_children: dict[int, subprocess.Popen] = {}


class LockTimeout(RuntimeError):
    pass


class LocalEndpoint:
    def __init__(self, settings: Settings, token: str | None = None):
        self.settings = settings
        self.paths = ServingPaths(settings.serving_dir)
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalEndpoint:
        return cls(settings, token=serving_token())

    @property
    def page_url(self) -> str:
        """The endpoint's description (GET): what a link in the Dagster UI should open."""
        return f"{self.settings.serving_url}/serving-endpoints/{self.settings.endpoint_name}"

    @property
    def url(self) -> str:
        return f"{self.settings.serving_url}/serving-endpoints/{self.settings.endpoint_name}/invocations"

    def _control(self, base_url: str | None = None) -> ServerControl:
        return ServerControl(base_url or self.settings.serving_url, self.settings.endpoint_name, self.paths.secret,
                             self._token)

    def deploy(self, version: int) -> DeployResult:
        try:
            with deploy_lock(self.paths):
                return self._deploy(int(version))
        except LockTimeout as timeout:
            raise EndpointError(str(timeout)) from None

    def status(self) -> dict | None:
        state = read_json(self.paths.state)
        if not state or not server_alive(state.get("pid")):
            return None
        live = self._control(state["url"]).info(timeout=3.0) or {}
        return {
            "url": f"{state['url']}/serving-endpoints/{state['endpoint']}/invocations",
            "base_url": state["url"], "pid": state["pid"], "endpoint": state["endpoint"],
            "model": live.get("model", state["model"]), "version": live.get("version", state["version"]),
            "previous_version": live.get("previous_version", state.get("previous_version")),
            "healthy": bool(live), "auth": live.get("auth", "unknown"),
            "started_at": state["started_at"], "updated_at": state["updated_at"],
            "server_log": state["server_log"], "access_log": state["access_log"],
        }

    def stop(self) -> bool:
        with deploy_lock(self.paths):
            self._discard_candidate()
            state = read_json(self.paths.state) or {}
            running = server_alive(state.get("pid"))
            if running:
                terminate(state["pid"])
            self.paths.state.unlink(missing_ok=True)
            self.paths.secret.unlink(missing_ok=True)
            return running

    def predict(self, records: list[dict]) -> list[float]:
        state = read_json(self.paths.state)
        return self._control(state["url"] if state else None).predict(records)

    # -- deploy steps, all under the lock -------------------------------------------------------

    def _deploy(self, version: int) -> DeployResult:
        source = self._resolve(version)
        state = self._running()
        if state is None:
            latency = self._start_beside(None, version, source)
            return DeployResult(self.url, version, None, True, latency, page_url=self.page_url)
        previous = int(state["version"])
        self._control(state["url"]).check_token()
        if state["url"] != self.settings.serving_url:  # the settings moved it
            latency = self._start_beside(state, version, source)
            return DeployResult(self.url, version, previous, True, latency, page_url=self.page_url)
        control = self._control()
        if previous != version:
            control.swap(version, source, previous)
        try:
            latency = control.verify(version)
        except EndpointError as failure:
            if previous == version:
                raise
            control.swap(previous, None, version)  # the server still holds it: no reload
            raise EndpointError(f"{failure}; rolled back to version {previous}") from None
        return DeployResult(self.url, version, previous, False, latency, page_url=self.page_url)

    def _resolve(self, version: int) -> str:
        """The version's artifact location, read from the registry once, here: the server is told
        exactly what to load and never looks up an alias."""
        from fare_assets.backends.registry import SqliteRegistry

        name = self.settings.registered_model_name
        found = SqliteRegistry.reader(self.settings).version_location(version)
        if found is None:
            raise EndpointError(f"{name} version {version} cannot be deployed: it is not found in the registry")
        status, location = found
        if status != "READY":
            raise EndpointError(f"{name} version {version} is {status}, not READY")
        return location

    def _running(self) -> dict | None:
        """The live server's state, or None after cleaning up a crashed or hung one."""
        reap()
        self._discard_candidate()
        state = read_json(self.paths.state)
        if not state or not server_alive(state.get("pid")):
            self.paths.state.unlink(missing_ok=True)
            return None
        info = self._control(state["url"]).info(timeout=5.0)
        if info is None:  # alive but not answering: it serves nobody, replace it
            terminate(state["pid"])
            self.paths.state.unlink(missing_ok=True)
            return None
        return {**state, "version": info["version"]}

    def _start_beside(self, serving: dict | None, version: int, source: str) -> float:
        """Start a server on the settings' address while `serving` (if any) keeps serving; verify
        and promote it, then stop `serving`. On any failure the new process is stopped instead."""
        paths, settings = self.paths.ensure(), self.settings
        where = f"{settings.serving_host}:{settings.serving_port}"
        keeps = f"; version {serving['version']} keeps serving at {serving['url']}" if serving else ""
        problem = bind_problem(settings.serving_host, settings.serving_port)
        if problem:
            raise EndpointError(f"cannot serve on {where}: {problem}; free it or set FARE_ASSETS_SERVING_HOST "
                                f"and FARE_ASSETS_SERVING_PORT to an address this machine can listen on{keeps}")
        if serving is None:
            new_secret(paths)  # a replacement keeps its predecessor's, so both answer the deployer
        log_offset = paths.server_log.stat().st_size if paths.server_log.exists() else 0
        child = spawn(paths, version, source, child_env(settings.to_env(), self._token), settings.home)
        control = self._control()
        try:
            self._wait_ready(child, control, version, where, log_offset)
            latency = control.verify(version)
            control.promote()
        except BaseException as failure:
            terminate(child.pid)
            paths.candidate.unlink(missing_ok=True)
            if isinstance(failure, (EndpointError, OSError)):
                raise EndpointError(f"{failure}{keeps}") from None
            raise
        if serving is not None:
            terminate(serving["pid"])
        return latency

    def _wait_ready(self, child: subprocess.Popen, control: ServerControl, version: int, where: str,
                    log_offset: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise EndpointError(f"the server for version {version} on {where} exited with code "
                                    f"{child.returncode} before it was ready:\n{log_tail(self.paths.server_log, log_offset)}")
            ready = control.admin("GET", "/ready", timeout=1.0)
            if ready is not None and ready.status == 200:
                return
            time.sleep(0.05)
        raise EndpointError(f"the server for version {version} on {where} was not ready after {READY_TIMEOUT:.0f} s; "
                            f"see {self.paths.server_log}")

    def _discard_candidate(self) -> None:
        """A process started beside the serving one by a deployer that died before promoting it."""
        candidate = read_json(self.paths.candidate) or {}
        serving = (read_json(self.paths.state) or {}).get("pid")
        if candidate.get("pid") != serving and server_alive(candidate.get("pid")):
            terminate(candidate["pid"])
        self.paths.candidate.unlink(missing_ok=True)


# -- the serving directory -------------------------------------------------------------------


@dataclass(frozen=True)
class ServingPaths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def candidate(self) -> Path:
        return self.root / "candidate.json"

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


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
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


# -- the server process ----------------------------------------------------------------------


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


def bind_problem(host: str, port: int, wait: float = 2.0) -> str | None:
    """Why host:port cannot be listened on, or None. A server stopped a moment ago can hold its
    socket while its threads tear down, so a busy port gets a few seconds to come free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return None
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    return f"the address cannot be listened on ({error})"
                if time.monotonic() > deadline:
                    return f"the port is in use by another process ({error})"
        time.sleep(0.1)


def spawn(paths: ServingPaths, version: int, source: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start a server beside any that serves (it writes candidate.json until promoted), in its own
    session, so it outlives the Dagster run (and its process group) that deployed it; its output
    goes to a file, never to the caller's pipes."""
    with open(paths.server_log, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--version", str(version), "--source", source, "--candidate"],
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
