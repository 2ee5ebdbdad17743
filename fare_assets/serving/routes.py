"""The endpoint's routes: scoring, health, readiness, what is served, metrics, and the admin swap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson

from fare_assets.serving.model import ModelRejected, ServedModel
from fare_assets.serving.payloads import RequestError
from fare_assets.serving.validation import parse_json

JSON = b"application/json"
PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"


class Routes:
    def __init__(self, app):
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


def describe(app, served: ServedModel) -> dict:
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
