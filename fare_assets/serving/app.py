"""The endpoint as a bare ASGI app: routing, auth, body limits, scoring, metrics and the access log.

No framework on the hot path: a request is a dict lookup, two header checks, one JSON parse, one
vectorised validation and one predict. Each request reads the served version once, so it is
answered entirely by one version even when a swap lands while it runs.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable

import orjson

from fare_assets.serving.batching import Batcher
from fare_assets.serving.metrics import AccessLog, Metrics
from fare_assets.serving.model import ServedModel
from fare_assets.serving.payloads import RequestError
from fare_assets.serving.routes import Routes

MAX_REQUEST_BYTES = 16 * 1024 * 1024  # Databricks Model Serving's payload limit
OFF_LOOP_BYTES = 256 * 1024  # bigger bodies are parsed and scored in a thread so small requests keep flowing
ADMIN_HEADER = b"x-fare-assets-admin"
JSON = b"application/json"
log = logging.getLogger("fare_assets.serving")


class ClientGone(Exception):
    """The client disconnected before sending its whole body: nothing to answer, nothing to trace."""


class EndpointApp:
    def __init__(self, served: ServedModel, *, endpoint_name: str, token: str | None, admin_secret: str,
                 loader: Callable[[int, str | None], ServedModel], access_log: AccessLog,
                 on_swap: Callable[[ServedModel], None] = lambda served: None,
                 max_request_bytes: int = MAX_REQUEST_BYTES):
        self.served, self.previous = served, None
        self.endpoint_name = endpoint_name
        self.loader, self.on_swap, self.access_log = loader, on_swap, access_log
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
            self._record(scope, route, 499, started, 0, served, "client disconnected")
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
