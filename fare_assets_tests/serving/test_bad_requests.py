"""Bad input is always a 4xx with a JSON error that names the problem, the field and the row."""

from __future__ import annotations

import json
import socket

import pytest

from fare_assets_tests.serving.conftest import access_log_after, access_log_offset, sample_rows, served_version, wait_until

GOOD = sample_rows(3, seed=5)
MB = 1024 * 1024


def records(*rows) -> bytes:
    return json.dumps({"dataframe_records": list(rows)}).encode()


def with_value(row: int, field: str, value) -> bytes:
    rows = [dict(r) for r in GOOD]
    rows[row][field] = value
    return json.dumps({"dataframe_records": rows}, allow_nan=True).encode()


def without(row: int, field: str) -> bytes:
    rows = [dict(r) for r in GOOD]
    del rows[row][field]
    return records(*rows)


# (case, body, content type, status, words the message must contain, field, row)
CASES = [
    ("missing column", without(1, "pickup_hour"), None, 400, ["row 1", "missing", "pickup_hour"], "pickup_hour", 1),
    ("string for a number", with_value(2, "pickup_hour", "17"), None, 400, ["row 2", "pickup_hour", "string"],
     "pickup_hour", 2),
    ("boolean for a number", with_value(0, "is_weekend", True), None, 400, ["row 0", "is_weekend", "boolean"],
     "is_weekend", 0),
    ("null", with_value(1, "trip_distance", None), None, 400, ["row 1", "trip_distance", "null"], "trip_distance", 1),
    ("array for a number", with_value(0, "pickup_month", [6]), None, 400, ["pickup_month", "array"], "pickup_month", 0),
    ("NaN", with_value(2, "trip_distance", float("nan")), None, 400, ["row 2", "trip_distance", "NaN"],
     "trip_distance", 2),
    ("Infinity", with_value(0, "trip_distance", float("inf")), None, 400, ["row 0", "trip_distance", "infinite"],
     "trip_distance", 0),
    ("number too large for a double", records(GOOD[0]).replace(b'"pickup_hour": ', b'"pickup_hour": 1e999, "x": '),
     None, 400, ["row 0", "pickup_hour", "infinite"], "pickup_hour", 0),
    ("negative distance", with_value(1, "trip_distance", -1.5), None, 400,
     ["row 1", "trip_distance=-1.5", "out of range", "0 to 500"], "trip_distance", 1),
    ("hour 25", with_value(0, "pickup_hour", 25), None, 400, ["row 0", "pickup_hour=25", "0 to 23"], "pickup_hour", 0),
    ("weekday 9", with_value(2, "pickup_dayofweek", 9), None, 400, ["row 2", "pickup_dayofweek=9", "1 = Sunday"],
     "pickup_dayofweek", 2),
    ("month 0", with_value(0, "pickup_month", 0), None, 400, ["pickup_month=0", "1 to 12"], "pickup_month", 0),
    ("flag 2", with_value(1, "is_rush_hour", 2), None, 400, ["row 1", "is_rush_hour=2", "0 to 1"], "is_rush_hour", 1),
    ("fractional hour", with_value(0, "pickup_hour", 17.5), None, 400, ["pickup_hour=17.5", "whole number"],
     "pickup_hour", 0),
    ("empty batch", records(), None, 400, ["empty batch"], None, None),
    ("empty columnar batch", json.dumps({"inputs": {c: [] for c in GOOD[0]}}).encode(), None, 400,
     ["empty batch"], None, None),
    ("invalid JSON", b'{"dataframe_records": [{"trip_distance": 3.5,', None, 400, ["invalid JSON"], None, None),
    ("not UTF-8", b'{"dataframe_records": "\xff\xfe"}', None, 400, ["invalid JSON"], None, None),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, None, 400, ["invalid JSON"], None, None),
    ("a bare array", records(*GOOD)[len(b'{"dataframe_records": '):-1], None, 400,
     ["JSON object", "dataframe_records"], None, None),
    ("no format key", json.dumps({"rows": GOOD}).encode(), None, 400, ["exactly one of", "rows"], None, None),
    ("two format keys", json.dumps({"instances": GOOD, "inputs": GOOD}).encode(), None, 400,
     ["exactly one of", "instances and inputs"], None, None),
    ("unknown top-level field", json.dumps({"inputs": GOOD, "model": "x"}).encode(), None, 400,
     ["unknown top-level field", "model"], "model", None),
    ("params for a model without params", json.dumps({"inputs": GOOD, "params": {"k": 1}}).encode(), None, 400,
     ["params"], "params", None),
    ("records not an array", json.dumps({"dataframe_records": GOOD[0]}).encode(), None, 400,
     ["dataframe_records", "array of objects"], "dataframe_records", None),
    ("rows that are arrays", json.dumps({"instances": [[3.5, 17, 3, 6, 0, 1]]}).encode(), None, 400,
     ["row 0", "object keyed by column name"], "instances", 0),
    ("split without a column", json.dumps({"dataframe_split": {"columns": ["trip_distance"], "data": [[1.0]]}}).encode(),
     None, 400, ["missing field", "pickup_hour"], "pickup_hour", None),
    ("split row of the wrong width", json.dumps({"dataframe_split": {
        "columns": list(GOOD[0]), "data": [list(GOOD[0].values()), [1.0, 2]]}}).encode(), None, 400,
     ["row 1", "6 values", "got 2 values"], "dataframe_split.data", 1),
    ("split naming a column twice", json.dumps({"dataframe_split": {
        "columns": [*GOOD[0], "pickup_hour"], "data": []}}).encode(), None, 400, ["pickup_hour", "twice"],
     "pickup_hour", None),
    ("columnar of unequal lengths", json.dumps({"inputs": {c: [v, v] if c != "pickup_month" else [v]
                                                           for c, v in GOOD[0].items()}}).encode(), None, 400,
     ["pickup_month", "has 1 values", "same length"], "pickup_month", None),
    ("wrong content type", records(*GOOD), "text/plain", 415, ["Content-Type", "application/json", "text/plain"],
     "Content-Type", None),
    ("form content type (curl -d without -H)", records(*GOOD), "application/x-www-form-urlencoded", 415,
     ["application/json"], "Content-Type", None),
    ("no content type", records(*GOOD), "", 415, ["Content-Type", "none"], "Content-Type", None),
    ("over the 16 MB limit", b" " * (16 * MB + 1), None, 413, ["16777217 bytes", "16 MB"], None, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_a_4xx_that_names_the_problem(http, invocations, case):
    _, body, content_type, status, words, field, row = case
    headers = {"Content-Type": "application/json" if content_type is None else content_type}
    if content_type == "":
        headers = {}

    response = http.post(invocations, content=body, headers=headers)

    assert response.status_code == status, response.text
    error = response.json()
    assert error["error_code"]
    for word in words:
        assert word in error["message"], f"{word!r} not in {error['message']!r}"
    assert error.get("field") == field
    assert error.get("row") == row


def test_every_problem_in_a_batch_is_listed_not_only_the_first(http, invocations):
    rows = [dict(r) for r in GOOD]
    rows[0]["pickup_hour"], rows[2]["pickup_dayofweek"] = 24, 0

    error = http.post(invocations, json={"dataframe_records": rows}).json()

    assert error["message"].startswith("row 0: pickup_hour=24 is out of range")
    assert "and 1 more problems" in error["message"]
    assert [(e["row"], e["field"]) for e in error["errors"]] == [(0, "pickup_hour"), (2, "pickup_dayofweek")]


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(http, invocations):
    def chunks():  # no Content-Length: the limit must hold while reading, too
        for _ in range(17):
            yield b" " * MB

    response = http.post(invocations, content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413


@pytest.mark.parametrize("method, path, status, words", [
    ("GET", "INVOCATIONS", 405, ["takes POST"]),
    ("POST", "/serving-endpoints/someone_elses_endpoint/invocations", 404, ["someone_elses_endpoint", "not served"]),
    ("GET", "/no/such/route", 404, ["no route"]),
    ("POST", "/admin/swap", 403, ["admin"]),
])
def test_wrong_routes_and_methods_are_4xx_with_a_reason(http, invocations, method, path, status, words):
    response = http.request(method, invocations if path == "INVOCATIONS" else path, json={"version": 2})

    assert response.status_code == status
    assert all(word in response.json()["message"] for word in words)


def test_a_client_that_disconnects_mid_body_leaves_no_traceback(endpoint, http, invocations):
    offset = access_log_offset(endpoint, http)
    with socket.create_connection(("127.0.0.1", endpoint.settings.serving_port)) as raw:
        raw.sendall(f"POST {invocations} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: 5000\r\n\r\n{\"dataframe_records\"".encode())

    wait_until(lambda: any(r["status"] == 499 for r in access_log_after(endpoint, offset)),
               "the server to record the disconnect")
    assert http.get("/health").status_code == 200
    assert "Traceback" not in endpoint.paths.server_log.read_text()


def test_after_every_bad_request_the_server_is_alive_and_correct(http, invocations, registry):
    for _, body, content_type, *_ in CASES:
        http.post(invocations, content=body, headers={"Content-Type": content_type or "application/json"})

    response = http.post(invocations, json={"dataframe_records": GOOD})

    assert response.status_code == 200
    assert response.json()["predictions"] == registry.expected(served_version(response), GOOD)
    assert "Traceback" not in (registry.settings.serving_dir / "server.log").read_text()
