"""The four request formats Databricks Model Serving accepts, reduced to rows in model column order.

- `dataframe_records`: [{"trip_distance": 3.5, ...}, ...]
- `dataframe_split`: {"columns": [...], "data": [[...], ...]} (an "index" is accepted and ignored)
- `instances` / `inputs`: either records, like dataframe_records, or columnar {"column": [values]}
Fields the model does not take are ignored, as Databricks does; missing ones are errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
    405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
}


class RequestError(Exception):
    """A client error: its status is 4xx, its message names the field and row when there is one."""

    def __init__(self, status: int, message: str, *, field: str | None = None, row: int | None = None,
                 code: str | None = None, errors: list[dict] | None = None, allow: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.row = status, message, field, row
        self.code = code or _CODES.get(status, "BAD_REQUEST")
        self.errors, self.allow = errors, allow

    def to_json(self) -> bytes:
        body = {"error_code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.row is not None:
            body["row"] = self.row
        if self.errors and len(self.errors) > 1:
            body["errors"] = self.errors
        return orjson.dumps(body)


def _kind(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number")


def extract_rows(payload: dict, columns: Sequence[str]) -> list:
    present = [key for key in FORMATS if key in payload]
    if len(present) != 1:
        found = f"got {' and '.join(present)}" if present else f"got {sorted(payload)[:5] or 'an empty object'}"
        raise RequestError(400, f"send exactly one of {', '.join(FORMATS)}; {found}")
    extra = [key for key in payload if key not in FORMATS and key != "params"]
    if extra:
        raise RequestError(400, f"unknown top-level field {extra[0]!r}", field=extra[0])
    if payload.get("params") not in (None, {}):
        raise RequestError(400, "this model takes no params: leave 'params' out", field="params")
    key = present[0]
    data = payload[key]
    if key == "dataframe_split":
        return _split(data, columns)
    if key in ("instances", "inputs") and isinstance(data, dict):
        return _columnar(data, columns, key)
    return _records(data, columns, key)


def _records(data, columns: Sequence[str], key: str) -> list:
    if not isinstance(data, list):
        raise RequestError(400, f"{key} must be an array of objects, got {_kind(data)}", field=key)
    try:
        return [[record[c] for c in columns] for record in data]
    except (KeyError, TypeError, IndexError):
        pass
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            raise RequestError(400, f"row {i}: each row in {key} must be an object keyed by column name, "
                               f"got {_kind(record)}", field=key, row=i)
        for column in columns:
            if column not in record:
                raise RequestError(400, f"row {i}: missing field {column!r}", field=column, row=i)
    raise AssertionError("unreachable: a row failed to index but every row has every column")


def _split(data, columns: Sequence[str]) -> list:
    if not isinstance(data, dict):
        raise RequestError(400, f"dataframe_split must be an object with 'columns' and 'data', got {_kind(data)}",
                           field="dataframe_split")
    names, rows = data.get("columns"), data.get("data")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RequestError(400, "dataframe_split.columns must be an array of column names",
                           field="dataframe_split.columns")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise RequestError(400, f"dataframe_split.columns names {twice!r} twice", field=twice)
    if not isinstance(rows, list):
        raise RequestError(400, f"dataframe_split.data must be an array of rows, got {_kind(rows)}",
                           field="dataframe_split.data")
    for column in columns:
        if column not in names:
            raise RequestError(400, f"missing field {column!r}: dataframe_split.columns does not name it",
                               field=column)
    width, positions = len(names), [names.index(c) for c in columns]
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            raise RequestError(400, f"row {i}: each row in dataframe_split.data must be an array of {width} "
                               f"values, one per column, got {got}", field="dataframe_split.data", row=i)
    return [[row[p] for p in positions] for row in rows]


def _columnar(data: dict, columns: Sequence[str], key: str) -> list:
    for column in columns:
        if column not in data:
            raise RequestError(400, f"missing field {column!r} in {key}", field=column)
        if not isinstance(data[column], list):
            raise RequestError(400, f"{key}.{column} must be an array with one value per row, "
                               f"got {_kind(data[column])}", field=column)
    length = len(data[columns[0]])
    for column in columns:
        if len(data[column]) != length:
            raise RequestError(400, f"{key}.{column} has {len(data[column])} values but "
                               f"{key}.{columns[0]} has {length}: columns must be the same length", field=column)
    return list(zip(*(data[c] for c in columns)))
