"""What a deploy reports, the same for the local endpoint and Databricks Model Serving."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeployResult:
    url: str
    version: int
    previous_version: int | None
    started: bool
    verify_latency_ms: float
    page_url: str  # where a browser (GET) shows the endpoint; `url` takes POSTed requests
    # The first test query, when it differs from the verify latency: Databricks endpoints scaled to
    # zero answer it only after a cold start. The local endpoint is never cold, so it leaves this None.
    first_query_ms: float | None = None
