"""Talking to a running server over HTTP: stdlib only, one connection per call, never retries.

`ServerControl` is what a deploy does to a server: the admin routes (per-start secret) and the
public checks made before and after a change, as a user's client makes them.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ADMIN_HEADER = "X-Fare-Assets-Admin"
SWAP_TIMEOUT = 300.0


class EndpointError(RuntimeError):
    """The deploy did not happen (or was rolled back); the message names the reason."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {"message": self.body[:500].decode("utf-8", "replace")}

    def message(self) -> str:
        data = self.json()
        return data.get("message", str(data)) if isinstance(data, dict) else str(data)


def call(base_url: str, method: str, path: str, *, payload=None, headers: dict | None = None,
         timeout: float = 10.0) -> Reply:
    """Raises OSError when nothing answers; any HTTP status is a Reply."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    body = None if payload is None else json.dumps(payload, allow_nan=False).encode()
    sent = {"Content-Type": "application/json"} if body is not None else {}
    try:
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def auth_headers(token: str | None = None, admin_secret: str | None = None) -> dict[str, str]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if admin_secret:
        headers[ADMIN_HEADER] = admin_secret
    return headers


class ServerControl:
    def __init__(self, base_url: str, endpoint_name: str, secret: Path, token: str | None):
        self.base_url, self.secret, self.token = base_url, secret, token
        self.invocations = f"/serving-endpoints/{endpoint_name}/invocations"

    def admin(self, method: str, path: str, payload=None, timeout: float = 10.0) -> Reply | None:
        """None when nothing answers (not started yet, crashed, or hung past the timeout)."""
        try:
            secret = self.secret.read_text().strip()
            return call(self.base_url, method, path, payload=payload, timeout=timeout,
                        headers=auth_headers(admin_secret=secret))
        except OSError:
            return None

    def info(self, timeout: float = 10.0) -> dict | None:
        reply = self.admin("GET", "/info", timeout=timeout)
        return reply.json() if reply is not None and reply.status == 200 else None

    def swap(self, version: int, source: str | None, serving: int) -> None:
        reply = self.admin("POST", "/admin/swap", {"version": version, "source": source}, SWAP_TIMEOUT)
        if reply is None or reply.status != 200:
            reason = reply.message() if reply is not None else "the server did not answer"
            raise EndpointError(f"version {version} was not deployed: {reason}; version {serving} keeps serving")

    def promote(self) -> None:
        reply = self.admin("POST", "/admin/promote", {})
        if reply is None or reply.status != 200:
            reason = reply.message() if reply is not None else "it did not answer"
            raise EndpointError(f"the new server at {self.base_url} could not take over: {reason}")

    def check_token(self) -> None:
        """Refuse before touching anything if this deploy's token would not be the server's."""
        reply = call(self.base_url, "GET", "/info", headers=auth_headers(self.token))
        if reply.status == 401:
            raise EndpointError("the running server rejects this deploy's FARE_ASSETS_SERVING_TOKEN: set the "
                                "token it was started with, or run `fare-assets stop` and deploy again")
        if self.token and reply.status == 200 and reply.json().get("auth") == "none":
            raise EndpointError("FARE_ASSETS_SERVING_TOKEN is set but the running server has auth off: run "
                                "`fare-assets stop` and deploy again to turn auth on")

    def verify(self, version: int) -> float:
        """One request through the public route, as a user sends it, with rows at both ends of the
        contract: the right version must answer with one finite prediction per row."""
        info = self.info()
        if info is None:
            raise EndpointError(f"verification of version {version} failed: the server does not describe itself")
        rows = [{field["name"]: field[end] for field in info["inputs"]} for end in ("min", "max")]
        started = time.perf_counter()
        reply = call(self.base_url, "POST", self.invocations, payload={"dataframe_records": rows},
                     headers=auth_headers(self.token))
        latency = (time.perf_counter() - started) * 1000
        predictions = reply.json().get("predictions") if reply.status == 200 else None
        served = reply.headers.get("x-served-model-version")
        if served != str(version) or not isinstance(predictions, list) or len(predictions) != len(rows) \
                or not all(isinstance(p, float) and math.isfinite(p) for p in predictions):
            raise EndpointError(f"verification of version {version} failed: HTTP {reply.status}, served version "
                                f"{served}, answer {reply.body[:300]!r}")
        return latency

    def predict(self, records: list[dict]) -> list[float]:
        reply = call(self.base_url, "POST", self.invocations, payload={"dataframe_records": records},
                     headers=auth_headers(self.token), timeout=30.0)
        if reply.status != 200:
            raise EndpointError(f"prediction failed with HTTP {reply.status}: {reply.message()}")
        return reply.json()["predictions"]
