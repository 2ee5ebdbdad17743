"""Connection limits under the app: oversized heads, stalled heads and bodies, idle connections."""

from __future__ import annotations

import http.client
import socket
import threading

from fare_assets.serving.limits import Limits
from fare_assets_tests.serving.conftest import access_log_after, access_log_offset

LIMITS = Limits()


def read_until_closed(sock: socket.socket, into: dict, key: str, seconds: float) -> None:
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
        into[key] = received
    except TimeoutError:
        into[key] = received + b"<still open>"


def test_a_request_head_over_the_limit_is_answered_431_with_a_json_reason_and_closed(endpoint):
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.settings.serving_port, timeout=10)
    try:
        connection.request("GET", "/health", headers={"X-Filler": "a" * (LIMITS.max_head_bytes + 1)})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 431
    assert response.getheader("connection") == "close"
    assert b"REQUEST_HEADER_FIELDS_TOO_LARGE" in body and b"16384 bytes" in body


def test_a_stalled_head_or_body_gets_408_and_an_idle_connection_is_closed_without_an_answer(endpoint, http, invocations):
    port, offset = endpoint.settings.serving_port, access_log_offset(endpoint, http)
    stalled_head = socket.create_connection(("127.0.0.1", port))
    stalled_head.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    stalled_body = socket.create_connection(("127.0.0.1", port))
    stalled_body.sendall(f"POST {invocations} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 100\r\n\r\n{\"dataframe_records\"".encode())
    idle = socket.create_connection(("127.0.0.1", port))
    answers: dict[str, bytes] = {}
    # Well past both deadlines (5 s, and 5 s plus a 100-byte body's share), yet bounded.
    readers = [threading.Thread(target=read_until_closed, args=(sock, answers, key, 3 * LIMITS.head_timeout))
               for key, sock in (("head", stalled_head), ("body", stalled_body), ("idle", idle))]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    for sock in (stalled_head, stalled_body, idle):
        sock.close()

    assert answers["head"].startswith(b"HTTP/1.1 408 "), answers["head"]
    assert answers["body"].startswith(b"HTTP/1.1 408 "), answers["body"]
    assert b"REQUEST_TIMEOUT" in answers["head"] and b"REQUEST_TIMEOUT" in answers["body"]
    assert answers["idle"] == b""
    assert [(r["status"], r["path"]) for r in access_log_after(endpoint, offset)] == [(408, invocations)]
