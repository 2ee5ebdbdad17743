"""A minimal HTTP client for the manager: stdlib only, one connection per call, never retries."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

ADMIN_HEADER = "X-Fare-Assets-Admin"


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
