"""The endpoint as a bare ASGI app: routes, auth, body limits, scoring with micro-batching, metrics.

No framework on the hot path: a request is a dict lookup, two header checks, one JSON parse, one
vectorised validation and one predict. Each request reads the served version once, so it is
answered entirely by one version even when a swap lands while it runs.

Micro-batching: rows of requests validated in the same event-loop tick share one predict. A tree
ensemble's predict costs about the same for 1 row as for 100 (the per-call overhead of the
pipeline and the per-tree Python loop dominate), so under concurrent load one call for eight
requests does the work of eight. Nothing waits for a batch to fill: the flush is queued behind
the requests that are already runnable, so a lone request is predicted on the next tick. Rows are
scored independently by every scikit-learn regressor, so a row's prediction does not depend on
the rows it was batched with (a test checks this bit for bit).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import orjson

from fare_assets.serving.contract import RequestError, parse_json
from fare_assets.serving.limits import CUT_OFF, MAX_REQUEST_BYTES
from fare_assets.serving.metrics import AccessLog, Metrics
from fare_assets.serving.model import ModelRejected, ServedModel

OFF_LOOP_BYTES = 256 * 1024  # bigger bodies are parsed and scored in a thread so small requests keep flowing
ADMIN_HEADER = b"x-fare-assets-admin"
JSON = b"application/json"
PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger("fare_assets.serving")


class ClientGone(Exception):
    """The client disconnected (or was cut off) before sending its whole body: nothing to answer."""


class EndpointApp:
    def __init__(self, served: ServedModel, *, endpoint_name: str, token: str | None, admin_secret: str,
                 loader: Callable[[int, str | None], ServedModel], access_log: AccessLog,
                 on_swap: Callable[[ServedModel], None] = lambda served: None,
                 on_promote: Callable[[], None] = lambda: None,
                 max_request_bytes: int = MAX_REQUEST_BYTES):
        self.served, self.previous = served, None
        self.endpoint_name = endpoint_name
        self.loader, self.on_swap, self.on_promote, self.access_log = loader, on_swap, on_promote, access_log
        self.max_request_bytes = max_request_bytes
        self.metrics = Metrics()
        self.batcher = Batcher()
        self.swap_lock = asyncio.Lock()
        self.auth_required = bool(token)
        self._token = token.encode() if token else None
        self._admin = admin_secret.encode()
        self.routes = Routes(self)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        served = self.served
        headers = dict(scope["headers"])
        route, rows, error = "other", 0, None
        extra_headers: list = []
        try:
            route, handler, is_admin_route = self.routes.resolve(scope["method"], scope["path"])
            self._authenticate(headers, is_admin_route)
            status, body, content_type, rows = await handler(scope, headers, receive, served)
        except RequestError as problem:
            status, body, content_type, error = problem.status, problem.to_json(), JSON, problem.message
            if status == 401:
                extra_headers = [(b"www-authenticate", b"Bearer")]
            elif problem.allow:
                extra_headers = [(b"allow", problem.allow.encode())]
        except ClientGone:
            # When the connection layer cut the body off (too slow, or shed), it answered itself.
            status, error = scope.get(CUT_OFF, (499, "client disconnected"))
            self._record(scope, route, status, started, 0, served, error)
            return
        except Exception as failure:  # noqa: BLE001 - a bug must still answer, and be logged once
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            status, content_type, error = 500, JSON, f"{type(failure).__name__}"
            body = orjson.dumps({"error_code": "INTERNAL_ERROR", "message": "internal error: see the server log"})
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
            (b"x-served-model-version", str(served.version).encode()), *extra_headers]})
        await send({"type": "http.response.body", "body": body})
        self._record(scope, route, status, started, rows, served, error)

    def _record(self, scope, route, status, started, rows, served, error) -> None:
        seconds = time.perf_counter() - started
        self.metrics.observe(route, status, seconds, rows)
        client = scope.get("client")
        self.access_log.write(
            method=scope["method"], path=scope["path"][:200], status=status, ms=round(seconds * 1000, 3),
            rows=rows, version=served.version, client=client[0] if client else None,
            **({"error": error[:300]} if error else {}),
        )

    def _authenticate(self, headers: dict, admin_only: bool) -> None:
        admin = headers.get(ADMIN_HEADER)
        if admin is not None and hmac.compare_digest(admin, self._admin):
            return
        if admin_only:
            raise RequestError(403, "admin routes take the per-start secret from the serving directory")
        if self._token is not None:
            given = headers.get(b"authorization")
            if given is None:
                raise RequestError(401, "missing Authorization: Bearer <token> header")
            # The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
            if given[:7].lower() != b"bearer " or not hmac.compare_digest(given[7:].strip(), self._token):
                raise RequestError(401, "invalid bearer token")

    async def read_json_body(self, headers: dict, receive) -> bytes:
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media != JSON:
            shown = media.decode("latin-1")[:60] or "none"
            raise RequestError(415, f"Content-Type must be application/json, got {shown}", field="Content-Type")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_request_bytes:
            raise self._too_large(int(declared))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                raise self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self, size: int) -> RequestError:
        return RequestError(413, f"request body of {size} bytes is over the limit of {self.max_request_bytes} "
                            "bytes (16 MB, as on Databricks): split the batch")

    def score(self, served: ServedModel, body: bytes) -> tuple[bytes, int]:
        X = served.contract.parse(body)
        return orjson.dumps({"predictions": served.predict(X)}, option=orjson.OPT_SERIALIZE_NUMPY), len(X)

    async def score_request(self, served: ServedModel, body: bytes) -> tuple[bytes, int]:
        if len(body) > OFF_LOOP_BYTES:
            return await asyncio.to_thread(self.score, served, body)
        X = served.contract.parse(body)
        predictions = await self.batcher.predict(served, X)
        return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY), len(X)


class Routes:
    """Scoring, health, readiness, what is served, metrics, and the admin swap and promotion."""

    def __init__(self, app: EndpointApp):
        self.app = app
        name = app.endpoint_name
        invocations = ("invocations", "POST", self.invocations)
        info = ("info", "GET", self.info)
        self.table = {
            "/invocations": invocations,
            f"/serving-endpoints/{name}/invocations": invocations,
            "/health": ("health", "GET", self.health),
            "/ping": ("health", "GET", self.health),
            "/ready": ("ready", "GET", self.ready),
            "/info": info,
            f"/serving-endpoints/{name}": info,
            "/metrics": ("metrics", "GET", self.metrics),
            "/admin/swap": ("admin", "POST", self.swap),
            "/admin/promote": ("admin", "POST", self.promote),
        }

    def resolve(self, method: str, path: str):
        entry = self.table.get(path)
        if entry is None:
            raise self._not_found(path)
        route, allowed, handler = entry
        if method != allowed:
            raise RequestError(405, f"{path} takes {allowed}, not {method}", allow=allowed)
        return route, handler, route == "admin"

    def _not_found(self, path: str) -> RequestError:
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "serving-endpoints":
            return RequestError(404, f"endpoint {parts[1]!r} is not served here; this server serves "
                                f"{self.app.endpoint_name!r}", field="endpoint")
        return RequestError(404, f"no route {path[:100]!r}: POST /serving-endpoints/{self.app.endpoint_name}"
                            "/invocations to score")

    async def invocations(self, scope, headers, receive, served: ServedModel):
        body = await self.app.read_json_body(headers, receive)
        answer, rows = await self.app.score_request(served, body)
        return 200, answer, JSON, rows

    async def health(self, scope, headers, receive, served):
        return 200, b'{"status":"ok"}', JSON, 0

    async def ready(self, scope, headers, receive, served):
        return 200, orjson.dumps({"status": "ready", "version": served.version}), JSON, 0

    async def info(self, scope, headers, receive, served: ServedModel):
        return 200, orjson.dumps(describe(self.app, served)), JSON, 0

    async def metrics(self, scope, headers, receive, served: ServedModel):
        return 200, self.app.metrics.render(served.model_name, served.version, served.load_seconds), PROMETHEUS, 0

    async def promote(self, scope, headers, receive, served):
        """A replacement started beside the serving process takes over the serving directory."""
        self.app.on_promote()
        return 200, orjson.dumps({"promoted": True, "version": served.version}), JSON, 0

    async def swap(self, scope, headers, receive, served):
        request = parse_json(await self.app.read_json_body(headers, receive))
        version = request.get("version") if isinstance(request, dict) else None
        source = request.get("source") if isinstance(request, dict) else None
        if type(version) is not int or version < 1 or not isinstance(source, (str, type(None))):
            raise RequestError(400, 'send {"version": <positive integer>, "source": <artifact URI or null>}',
                               field="version")
        async with self.app.swap_lock:
            return await self._swap_to(version, source)

    async def _swap_to(self, version: int, source: str | None):
        app, current = self.app, self.app.served
        if version == current.version:
            return 200, orjson.dumps({"version": version, "previous_version": version, "changed": False}), JSON, 0
        candidate = app.previous if app.previous is not None and app.previous.version == version else None
        if candidate is None:
            try:
                candidate = await asyncio.to_thread(app.loader, version, source)
            except ModelRejected as rejected:
                app.metrics.swaps["rejected"] += 1
                raise RequestError(422, str(rejected), field="version", code="MODEL_REJECTED") from None
        # The swap itself: one attribute assignment. Requests already running keep the object they
        # read; every request that starts after this line gets the new version.
        app.previous, app.served = current, candidate
        app.metrics.swaps["swapped"] += 1
        app.on_swap(candidate)
        return 200, orjson.dumps({
            "version": version, "previous_version": current.version, "changed": True,
            "load_seconds": round(candidate.load_seconds, 3), "verify": candidate.verify,
        }), JSON, 0


def describe(app: EndpointApp, served: ServedModel) -> dict:
    """What is served, shaped like Databricks' endpoint description plus the input contract."""
    return {
        "name": app.endpoint_name,
        "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
        "model": served.model_name,
        "version": served.version,
        "served_entities": [{"entity_name": served.model_name, "entity_version": str(served.version)}],
        "previous_version": app.previous.version if app.previous is not None else None,
        "loaded_at": datetime.fromtimestamp(served.loaded_at, UTC).isoformat(timespec="seconds"),
        "load_seconds": round(served.load_seconds, 3),
        "inputs": served.contract.describe(),
        "max_request_bytes": app.max_request_bytes,
        "auth": "bearer" if app.auth_required else "none",
    }


class Batcher:
    """Requests of one event-loop tick share one predict per served version."""

    def __init__(self) -> None:
        self._pending: list[tuple[ServedModel, np.ndarray, asyncio.Future]] = []
        self._flush_queued = False
        self.calls = 0
        self.requests = 0

    async def predict(self, served: ServedModel, X: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((served, X, future))
        if not self._flush_queued:
            self._flush_queued = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending, self._flush_queued = self._pending, [], False
        # A swap may land between two requests of one tick: each request keeps the version it read.
        by_version: dict[int, list] = {}
        for item in pending:
            by_version.setdefault(id(item[0]), []).append(item)
        for items in by_version.values():
            self._predict_group(items)

    def _predict_group(self, items: list) -> None:
        served = items[0][0]
        self.calls += 1
        self.requests += len(items)
        try:
            X = items[0][1] if len(items) == 1 else np.concatenate([x for _, x, _ in items])
            Y = served.predict(X)
        except Exception:  # noqa: BLE001 - isolate the request that breaks the batch, spare the rest
            for _, x, future in items:
                try:
                    _resolve(future, served.predict(x))
                except Exception as error:  # noqa: BLE001
                    if not future.done():
                        future.set_exception(error)
            return
        start = 0
        for _, x, future in items:
            _resolve(future, Y[start:start + len(x)])
            start += len(x)


def _resolve(future: asyncio.Future, value: np.ndarray) -> None:
    if not future.done():
        future.set_result(value)
