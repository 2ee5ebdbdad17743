"""`python -m fare_assets.serving.server --version N`: bind, load and verify N, then serve until SIGTERM.

Settings come from FARE_ASSETS_* variables; the bearer token from FARE_ASSETS_SERVING_TOKEN. The
process is normally started (detached) by LocalEndpoint.deploy, which also writes the admin secret.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime
from functools import partial

from fare_assets.serving.manager import ServingPaths, read_json, read_secret, write_json_atomically
from fare_assets.settings import Settings, serving_token

log = logging.getLogger("fare_assets.serving")
EXIT_PORT_BUSY, EXIT_MODEL_REJECTED, EXIT_NO_SECRET = 3, 4, 5


def bind(host: str, port: int) -> socket.socket:
    """Claim the port before the slow model load: a busy port fails in milliseconds, and clients
    that connect during the load wait in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def parse_args(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fare_assets.serving.server", description=__doc__)
    parser.add_argument("--version", type=int, required=True, help="registered model version to serve")
    parser.add_argument("--source", default=None,
                        help="the version's artifact URI, as the registry gives it (default: models:/<name>/<version>)")
    parser.add_argument("--host", default=settings.serving_host)
    parser.add_argument("--port", type=int, default=settings.serving_port)
    parser.add_argument("--candidate", action="store_true",
                        help="started beside a serving process: write candidate.json, not state.json, until "
                             "POST /admin/promote")
    return parser.parse_args(argv)


class StateFile:
    """The server's own account in the serving directory, rewritten (atomically) on every change."""

    def __init__(self, paths: ServingPaths, settings: Settings, host: str, port: int, candidate: bool):
        self.paths, self.settings, self.host, self.port = paths, settings, host, port
        self.path = paths.candidate if candidate else paths.state
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")

    def write(self, served, previous=None) -> None:
        write_json_atomically(self.path, {
            "pid": os.getpid(), "url": f"http://{self.host}:{self.port}", "host": self.host, "port": self.port,
            "endpoint": self.settings.endpoint_name, "model": served.model_name, "version": served.version,
            "previous_version": previous.version if previous is not None else None,
            "started_at": self.started_at, "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "server_log": str(self.paths.server_log), "access_log": str(self.paths.access_log),
        })

    def promote(self, served, previous=None) -> None:
        """From now on state.json is this process's: one rename replaces its predecessor's account."""
        self.path = self.paths.state
        self.write(served, previous)
        if (read_json(self.paths.candidate) or {}).get("pid") == os.getpid():
            self.paths.candidate.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Set before numpy and sklearn load their thread pools. Requests are small: waking OpenMP
    # threads costs more than a 1-row prediction, and on a busy machine they stall for
    # milliseconds. One thread per predict; concurrency comes from requests, not from rows.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    args = parse_args(argv, settings)
    token = serving_token()
    os.environ.pop("FARE_ASSETS_SERVING_TOKEN", None)  # nothing we load or spawn needs to see it
    paths = ServingPaths(settings.serving_dir).ensure()
    secret = read_secret(paths)
    if secret is None:
        log.error("no admin secret at %s: start the server with LocalEndpoint.deploy", paths.secret)
        return EXIT_NO_SECRET
    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, error)
        return EXIT_PORT_BUSY

    import uvicorn

    from fare_assets.backends.model_cache import ModelCache
    from fare_assets.serving.app import EndpointApp
    from fare_assets.serving.limits import Limits, protocol_class
    from fare_assets.serving.metrics import AccessLog
    from fare_assets.serving.model import ModelRejected, load_version

    loader = partial(load_version, settings.registered_model_name, tracking_uri=settings.local_mlflow_uri,
                     registry_uri=settings.local_mlflow_uri, cache=ModelCache(settings.model_cache_dir))
    try:
        served = loader(args.version, args.source)
    except ModelRejected as rejected:
        log.error("%s", rejected)
        return EXIT_MODEL_REJECTED
    state = StateFile(paths, settings, args.host, args.port, args.candidate)

    def on_swap(new) -> None:
        gc.freeze()
        state.write(new, app.previous)

    app = EndpointApp(served, endpoint_name=settings.endpoint_name, token=token, admin_secret=secret,
                      loader=loader, access_log=AccessLog(paths.access_log), on_swap=on_swap,
                      on_promote=lambda: state.promote(app.served, app.previous))
    state.write(served)
    # mlflow, pandas and sklearn leave ~350k long-lived objects; a full collection walks them all
    # (~100-200 ms on 2 busy cores), a stall that would land on some request's latency. Frozen
    # objects are skipped by the collector; new versions are frozen as they are swapped in.
    gc.collect()
    gc.freeze()
    log.info("serving %s version %s on http://%s:%s (auth %s), ready in %.2f s", served.model_name,
             served.version, args.host, args.port, "on" if token else "off", time.perf_counter() - started)
    config = uvicorn.Config(app, loop="uvloop", http=protocol_class(Limits(), app.metrics), lifespan="off",
                            access_log=False, log_level="warning", timeout_graceful_shutdown=10,
                            server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
