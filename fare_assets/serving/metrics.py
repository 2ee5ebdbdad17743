"""Prometheus text metrics and the structured access log, both cheap enough to run on every request."""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

# Seconds; dense below 10 ms because that is where the 1-row latency target lives.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROTATE_BYTES = 64 * 1024 * 1024
PREFIX = "fare_serving"


class Metrics:
    """Counters keyed by route name (a fixed set), never by raw path, so cardinality stays bounded."""

    def __init__(self) -> None:
        self.requests: Counter = Counter()
        self.histograms: dict[str, list[int]] = {}
        self.seconds: Counter = Counter()
        self.rows = 0
        self.swaps: Counter = Counter()
        # Kept by the connection layer (limits.py): requests it refused never reach `observe`.
        self.connections = 0
        self.shed: Counter = Counter()

    def observe(self, route: str, status: int, seconds: float, rows: int) -> None:
        self.requests[(route, status)] += 1
        histogram = self.histograms.get(route)
        if histogram is None:
            histogram = self.histograms[route] = [0] * (len(BUCKETS) + 1)
        histogram[bisect_left(BUCKETS, seconds)] += 1
        self.seconds[route] += seconds
        self.rows += rows

    def render(self, model_name: str, version: int, load_seconds: float) -> bytes:
        out = [
            f"# HELP {PREFIX}_requests_total Requests by route and HTTP status.",
            f"# TYPE {PREFIX}_requests_total counter",
        ]
        out += [f'{PREFIX}_requests_total{{route="{r}",status="{s}"}} {n}' for (r, s), n in sorted(self.requests.items())]
        out += [f"# HELP {PREFIX}_errors_total Responses with a 4xx or 5xx status, by status.",
                f"# TYPE {PREFIX}_errors_total counter"]
        errors: Counter = Counter()
        for (_, status), n in self.requests.items():
            if status >= 400:
                errors[status] += n
        out += [f'{PREFIX}_errors_total{{status="{s}"}} {n}' for s, n in sorted(errors.items())]
        out += [f"# HELP {PREFIX}_request_duration_seconds Time from request start to response sent.",
                f"# TYPE {PREFIX}_request_duration_seconds histogram"]
        for route, histogram in sorted(self.histograms.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, "+Inf"), histogram):
                cumulative += count
                out.append(f'{PREFIX}_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {cumulative}')
            out.append(f'{PREFIX}_request_duration_seconds_sum{{route="{route}"}} {self.seconds[route]:.6f}')
            out.append(f'{PREFIX}_request_duration_seconds_count{{route="{route}"}} {cumulative}')
        out += [f"# HELP {PREFIX}_rows_total Rows scored.", f"# TYPE {PREFIX}_rows_total counter",
                f"{PREFIX}_rows_total {self.rows}",
                f"# HELP {PREFIX}_model_swaps_total Version changes attempted, by outcome.",
                f"# TYPE {PREFIX}_model_swaps_total counter"]
        out += [f'{PREFIX}_model_swaps_total{{outcome="{o}"}} {n}' for o, n in sorted(self.swaps.items())]
        out += [f"# HELP {PREFIX}_open_connections Client connections open now.",
                f"# TYPE {PREFIX}_open_connections gauge", f"{PREFIX}_open_connections {self.connections}",
                f"# HELP {PREFIX}_connections_shed_total Connections closed by the server's limits, by reason.",
                f"# TYPE {PREFIX}_connections_shed_total counter"]
        out += [f'{PREFIX}_connections_shed_total{{reason="{r}"}} {n}' for r, n in sorted(self.shed.items())]
        out += [f"# HELP {PREFIX}_served_version The registered model version being served.",
                f"# TYPE {PREFIX}_served_version gauge",
                f'{PREFIX}_served_version{{model="{model_name}"}} {version}',
                f"# HELP {PREFIX}_model_load_seconds Time to load and verify the served version.",
                f"# TYPE {PREFIX}_model_load_seconds gauge",
                f'{PREFIX}_model_load_seconds{{model="{model_name}",version="{version}"}} {load_seconds:.3f}']
        return ("\n".join(out) + "\n").encode()


class AccessLog:
    """One JSON line per request, written unbuffered so a crash loses nothing; headers never logged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size

    def write(self, **record) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}
        line = orjson.dumps(record) + b"\n"
        os.write(self._fd, line)
        self._size += len(line)
        if self._size > ROTATE_BYTES:
            self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def close(self) -> None:
        os.close(self._fd)
