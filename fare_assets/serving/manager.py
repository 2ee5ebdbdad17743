"""LocalEndpoint: deploy an explicit version (start or hot-swap), verify it, report status, stop.

Every deploy and stop holds the serving directory's file lock, so two deploys at once serialise:
the second finds the first's server and swaps it. A swap is load -> verify -> atomic switch
inside the running server; if the new version fails, the old one never stopped serving.
"""

from __future__ import annotations

import time

from fare_assets.serving import process
from fare_assets.serving.control import EndpointError, ServerControl
from fare_assets.serving.state import LockTimeout, ServingPaths, deploy_lock, new_secret, read_state, server_alive
from fare_assets.settings import Settings, serving_token
from fare_assets.serving.deploy_result import DeployResult

__all__ = ["DeployResult", "EndpointError", "LocalEndpoint"]
READY_TIMEOUT = 120.0


class LocalEndpoint:
    def __init__(self, settings: Settings, token: str | None = None):
        self.settings = settings
        self.paths = ServingPaths(settings.serving_dir)
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalEndpoint:
        return cls(settings, token=serving_token())

    @property
    def url(self) -> str:
        return f"{self.settings.serving_url}/serving-endpoints/{self.settings.endpoint_name}/invocations"

    def _control(self, base_url: str | None = None) -> ServerControl:
        return ServerControl(base_url or self.settings.serving_url, self.settings.endpoint_name, self.paths,
                             self._token)

    def deploy(self, version: int) -> DeployResult:
        try:
            with deploy_lock(self.paths):
                return self._deploy(int(version))
        except LockTimeout as timeout:
            raise EndpointError(str(timeout)) from None

    def status(self) -> dict | None:
        state = read_state(self.paths)
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
            state = read_state(self.paths) or {}
            running = server_alive(state.get("pid"))
            if running:
                process.terminate(state["pid"])
            self.paths.state.unlink(missing_ok=True)
            self.paths.secret.unlink(missing_ok=True)
            return running

    def predict(self, records: list[dict]) -> list[float]:
        state = read_state(self.paths)
        return self._control(state["url"] if state else None).predict(records)

    # -- deploy steps, all under the lock -------------------------------------------------------

    def _deploy(self, version: int) -> DeployResult:
        source = self._resolve(version)
        control = self._control()
        state = self._running()
        if state is None:
            self._start(version, source)
            return DeployResult(self.url, version, None, True, control.verify(version))
        previous = int(state["version"])
        control.check_token()
        if previous != version:
            control.swap(version, source, previous)
        try:
            latency = control.verify(version)
        except EndpointError as failure:
            if previous == version:
                raise
            control.swap(previous, None, version)  # the server still holds it: no reload
            raise EndpointError(f"{failure}; rolled back to version {previous}") from None
        return DeployResult(self.url, version, previous, False, latency)

    def _resolve(self, version: int) -> str:
        """The version's artifact location, read from the registry once, here: the server is told
        exactly what to load and never looks up an alias."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        name = self.settings.registered_model_name
        client = MlflowClient(self.settings.tracking_uri, self.settings.registry_uri)
        try:
            record = client.get_model_version(name, str(version))
            if record.status != "READY":
                raise EndpointError(f"{name} version {version} is {record.status}, not READY")
            return client.get_model_version_download_uri(name, str(version))
        except MlflowException as error:
            raise EndpointError(f"{name} version {version} cannot be deployed: {error.message}") from None

    def _running(self) -> dict | None:
        """The live server's state, or None after cleaning up a crashed, hung or moved one."""
        process.reap()
        state = read_state(self.paths)
        if not state or not server_alive(state.get("pid")):
            return None
        info = self._control(state["url"]).info(timeout=5.0)
        if info is None or state["url"] != self.settings.serving_url:
            process.terminate(state["pid"])  # unresponsive, or the settings moved it: replace it
            return None
        return {**state, "version": info["version"]}

    def _start(self, version: int, source: str) -> None:
        paths, settings = self.paths.ensure(), self.settings
        busy = process.port_in_use(settings.serving_host, settings.serving_port)
        if busy:
            raise EndpointError(f"cannot serve on {settings.serving_url}: the port is in use by another process "
                                f"({busy}); stop it or set FARE_ASSETS_SERVING_PORT")
        new_secret(paths)
        paths.state.unlink(missing_ok=True)
        log_offset = paths.server_log.stat().st_size if paths.server_log.exists() else 0
        child = process.spawn(paths, version, source, process.child_env(settings.to_env(), self._token), settings.home)
        control, deadline = self._control(), time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise EndpointError(f"the server for version {version} exited with code {child.returncode} before "
                                    f"it was ready:\n{process.log_tail(paths.server_log, log_offset)}")
            ready = control.admin("GET", "/ready", timeout=1.0)
            if ready is not None and ready.status == 200:
                return
            time.sleep(0.05)
        process.terminate(child.pid)
        raise EndpointError(f"the server for version {version} was not ready after {READY_TIMEOUT:.0f} s; "
                            f"see {paths.server_log}")
