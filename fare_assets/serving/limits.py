"""Limits on what one client connection may hold, enforced under the ASGI app.

uvicorn's httptools protocol on its own buffers a request head without bound (httptools grows a
header by bytes concatenation, so a never-ending header also costs quadratic CPU on the event
loop), never times out a client that is still sending, and accepts connections until the process
runs out of files, after which libuv accepts new ones only to drop them. This subclass adds:
- a head size limit: 431, then close;
- head and body deadlines: 408 (when part of a request has arrived), then close;
- a connection cap below the open-file limit. At the cap, the connection that has waited longest
  on its client (a slow head or body, an idle keep-alive) is shed to make room, so slow clients
  cannot lock fast ones out; only when every connection has a request in the app is the new one
  answered 503;
- a graceful close after an early answer (431, 408, or a 413 sent before the body arrived): our
  side is half-closed after the answer and what the client still sends is read and discarded
  (bounded), so a client that writes its whole body before reading (http.client, urllib) reads
  the answer instead of a connection reset.
"""

from __future__ import annotations

import http
import resource
from collections import OrderedDict
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fare_assets.serving.contract import RequestError

MB = 1024 * 1024
MAX_REQUEST_BYTES = 16 * MB  # Databricks Model Serving's payload limit
CUT_OFF = "fare_assets.cut_off"  # (status, reason) in the scope of a request cut off while its body arrived
MIN_CONNECTIONS = 8
HEAD, BODY, IN_APP, CLOSING = "head", "body", "in_app", "closing"


@dataclass(frozen=True)
class Limits:
    max_head_bytes: int = 16 * 1024  # request line and headers; ours need well under 1 KB
    head_timeout: float = 5.0  # from the connection opening (or the last answer) to the end of the head
    body_timeout: float = 5.0  # for a small body; a large one gets a second more per min_body_rate bytes
    min_body_rate: int = 1 * MB  # bytes per second: a 16 MB body may take 21 s
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_connections: int = 1000
    file_reserve: int = 128  # files kept for logs, threads and a burst of accepts beyond the cap
    drain_bytes: int = 32 * MB  # read and discarded after an early answer to a body, at most
    drain_head_bytes: int = 1 * MB  # after a 431: a head that long is no client's but an attacker's
    drain_seconds: float = 10.0

    def capacity(self) -> int:
        """The cap follows the open-file limit as it is now, so `prlimit` on a running server counts."""
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if files == resource.RLIM_INFINITY:
            return self.max_connections
        return max(MIN_CONNECTIONS, min(self.max_connections, files - self.file_reserve))


def protocol_class(limits: Limits, metrics) -> type[LimitedHttpToolsProtocol]:
    """The class for uvicorn's `http=`: one per server, with its own queue of waiting connections."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,),
                {"limits": limits, "metrics": metrics, "waiting": OrderedDict()})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: Limits
    metrics: object  # fare_assets.serving.metrics.Metrics: counts open and shed connections
    waiting: OrderedDict  # connections waiting on their client, the longest waiting first

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._phase = HEAD
        self._head_bytes = 0
        self._drained = 0
        self._drain_limit = self.limits.drain_bytes
        self._declared: int | None = None
        self._timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.metrics.connections += 1
        if len(self.connections) > self.limits.capacity():
            victim = next(iter(self.waiting), None)
            if victim is None:
                self._refuse(503, "every connection has a request in progress: retry shortly", "over_capacity",
                             drain=False, answer=True)
                return
            victim._refuse(503, "shed to make room: this connection waited longest on its client", "shed",
                           drain=False)
        self._wait(HEAD, self.limits.head_timeout)

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        self.metrics.connections -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == CLOSING:
            self._drained += len(data)
            if self._drained > self._drain_limit:
                self.transport.close()
            return
        reading_head = self._phase == HEAD
        super().data_received(data)
        if reading_head and self._phase == HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(431, f"the request head is over {self.limits.max_head_bytes} bytes", "head_too_large")

    # Parser callbacks: after a refusal, the rest of the chunk being parsed is ignored.
    def on_message_begin(self) -> None:
        if self._phase != CLOSING:
            super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self._phase == CLOSING:
            return
        head = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if head > self.limits.max_head_bytes:  # the whole head came in one read, so it was not counted
            self._refuse(431, f"the request head is over {self.limits.max_head_bytes} bytes", "head_too_large",
                         answer=True)
            return
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:
            self.cycle.transport = _CycleTransport(self)
        declared = next((v for n, v in self.headers if n == b"content-length"), b"")
        self._declared = int(declared) if declared.isdigit() else None
        body = min(self._declared or self.limits.max_request_bytes, self.limits.max_request_bytes)
        self._wait(BODY, self.limits.body_timeout + body / self.limits.min_body_rate)

    def on_body(self, body: bytes) -> None:
        if self._phase != CLOSING:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._phase == CLOSING:
            return
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:  # answered early; the rest is read now
            self._head_bytes = 0
            self._wait(HEAD, self.limits.head_timeout)
        else:
            self._stop_waiting()
            self._phase = IN_APP

    def on_response_complete(self) -> None:
        if self._phase == CLOSING:
            return
        if self._phase == BODY and self.cycle.response_complete:
            # Answered before its body arrived (a 401, or a 413 on Content-Length). uvicorn reads and
            # discards the rest and keeps the connection, within the body deadline, unless the
            # rest is more than is worth reading.
            if self._declared is None or self._declared <= self.limits.drain_bytes:
                super().on_response_complete()
            else:
                self._close_gracefully()
            return
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:  # none pipelined behind it
            self._head_bytes = 0
            self._wait(HEAD, self.limits.head_timeout)

    # -- deadlines and refusals --------------------------------------------------------------

    def _wait(self, phase: str, seconds: float) -> None:
        self._phase = phase
        self.waiting[self] = None
        self.waiting.move_to_end(self)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _stop_waiting(self) -> None:
        self.waiting.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._phase == HEAD:
            self._refuse(408, f"the request head did not arrive within {self.limits.head_timeout:g} s",
                         "head_timeout" if self._head_bytes else "idle")
        elif self._phase == BODY:
            self._refuse(408, "the request body did not arrive in time: the server allows "
                         f"{self.limits.body_timeout:g} s plus 1 s per {self.limits.min_body_rate} bytes", "body_timeout")

    def _refuse(self, status: int, message: str, reason: str, *, drain: bool = True, answer: bool = False) -> None:
        """Answer `status` if part of a request arrived (or `answer`), then close. A connection that
        sent nothing is closed silently: an unasked-for answer would confuse a keep-alive client."""
        if self._phase == CLOSING or self.transport.is_closing():
            return
        self.metrics.shed[reason] += 1
        in_request = self._phase == BODY and self.cycle is not None
        if in_request and not self.cycle.response_complete:
            self.scope[CUT_OFF] = (status, message)
            self.cycle.disconnected = True  # the app stops waiting for a body that is not coming
            self.cycle.message_event.set()
        answer = answer or bool(self._head_bytes) or (in_request and not self.cycle.response_started)
        if answer:
            self.transport.write(_response(status, message))
        if drain and answer:
            self._close_gracefully(self.limits.drain_head_bytes if status == 431 else self.limits.drain_bytes)
        else:
            self._stop_waiting()
            self._phase = CLOSING
            self.transport.close()

    def _close_gracefully(self, drain_limit: int | None = None) -> None:
        self._stop_waiting()
        self._phase = CLOSING
        self._drain_limit = self.limits.drain_bytes if drain_limit is None else drain_limit
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._timer = self.loop.call_later(self.limits.drain_seconds, self.transport.close)


class _CycleTransport:
    """The transport as uvicorn's request cycle sees it. uvicorn closes the connection after
    answering a client that sent `Connection: close`; if the request body is still arriving, that
    close would reset the connection and lose the answer, so it closes gracefully instead."""

    def __init__(self, protocol: LimitedHttpToolsProtocol):
        self._protocol, self._transport = protocol, protocol.transport

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def close(self) -> None:
        if self._protocol._phase == BODY:
            self._protocol._close_gracefully()
        else:
            self._transport.close()


def _response(status: int, message: str) -> bytes:
    body = RequestError(status, message).to_json()
    return (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body
