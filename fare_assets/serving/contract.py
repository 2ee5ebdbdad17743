"""The request contract: a Databricks-style JSON body in, a float64 matrix in model column order out.

The four formats Databricks Model Serving accepts are reduced to rows in model column order:
- `dataframe_records`: [{"trip_distance": 3.5, ...}, ...]
- `dataframe_split`: {"columns": [...], "data": [[...], ...]} (an "index" is accepted and ignored)
- `instances` / `inputs`: either records, like dataframe_records, or columnar {"column": [values]}
Fields the model does not take are ignored, as Databricks does; a missing required field is an
error, a missing optional one (the signature's `required: false`, the location fields) is NaN, as
is an optional field sent as null.

The columns and their ranges come from the served version's signature (`Contract`). Every way a
body can be wrong becomes a RequestError whose message names the field and the row (rows count
from 0, in the order they were sent). Validation is vectorised after one pass that checks Python
types, so a 100-row batch costs about as much as a single row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import orjson

from fare_assets.ml.schema import FEATURE_RANGES, INTEGER_FEATURES

FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
MAX_LISTED_ERRORS = 20
_NUMBER_TYPES = frozenset({int, float})
_HINTS = {"pickup_dayofweek": " (1 = Sunday ... 7 = Saturday)"}
_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
    405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    431: "REQUEST_HEADER_FIELDS_TOO_LARGE", 503: "TEMPORARILY_UNAVAILABLE",
}


class RequestError(Exception):
    """A refused request: 4xx (or 503 when the server sheds load); the message names the field and row
    when there is one."""

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


def extract_rows(payload: dict, columns: Sequence[str], optional: frozenset = frozenset()) -> list:
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
        return _split(data, columns, optional)
    if key in ("instances", "inputs") and isinstance(data, dict):
        return _columnar(data, columns, key, optional)
    return _records(data, columns, key, optional)


def _records(data, columns: Sequence[str], key: str, optional: frozenset) -> list:
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
            if column not in record and column not in optional:
                raise RequestError(400, f"row {i}: missing field {column!r}", field=column, row=i)
    return [[record.get(c) for c in columns] for record in data]


def _split(data, columns: Sequence[str], optional: frozenset) -> list:
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
        if column not in names and column not in optional:
            raise RequestError(400, f"missing field {column!r}: dataframe_split.columns does not name it",
                               field=column)
    width, positions = len(names), [names.index(c) if c in names else None for c in columns]
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            raise RequestError(400, f"row {i}: each row in dataframe_split.data must be an array of {width} "
                               f"values, one per column, got {got}", field="dataframe_split.data", row=i)
    if None in positions:
        return [[None if p is None else row[p] for p in positions] for row in rows]
    return [[row[p] for p in positions] for row in rows]


def _columnar(data: dict, columns: Sequence[str], key: str, optional: frozenset) -> list:
    sent = [c for c in columns if c in data]
    for column in columns:
        if column not in data and column not in optional:
            raise RequestError(400, f"missing field {column!r} in {key}", field=column)
        if column in data and not isinstance(data[column], list):
            raise RequestError(400, f"{key}.{column} must be an array with one value per row, "
                               f"got {_kind(data[column])}", field=column)
    length = len(data[sent[0]])
    for column in sent:
        if len(data[column]) != length:
            raise RequestError(400, f"{key}.{column} has {len(data[column])} values but "
                               f"{key}.{sent[0]} has {length}: columns must be the same length", field=column)
    return list(zip(*(data[c] if c in data else [None] * length for c in columns)))


def parse_json(body: bytes):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as strict_error:
        # Python clients send NaN and Infinity by default (json.dumps allows them): parse them
        # leniently so the error can name the field and row instead of a character offset.
        try:
            return json.loads(body)
        except Exception:  # noqa: BLE001 - any failure here means the body is not JSON
            raise RequestError(400, f"invalid JSON: {strict_error}", code="MALFORMED_REQUEST") from None


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


class Contract:
    """The model's input columns with their ranges; `parse` turns a request body into a matrix."""

    def __init__(self, columns: Sequence[str], optional: Sequence[str] = ()):
        unknown = [c for c in columns if c not in FEATURE_RANGES]
        if unknown:
            raise ValueError(f"model inputs {unknown} have no range in fare_assets.ml.schema.FEATURE_RANGES")
        self.columns = tuple(columns)
        self.optional = frozenset(optional) & frozenset(columns)
        self.is_optional = np.array([c in self.optional for c in columns])
        self._required = [j for j, c in enumerate(columns) if c not in self.optional]
        self.low = np.array([FEATURE_RANGES[c][0] for c in columns], dtype=np.float64)
        self.high = np.array([FEATURE_RANGES[c][1] for c in columns], dtype=np.float64)
        self.integer = np.array([c in INTEGER_FEATURES for c in columns])

    def describe(self) -> list[dict]:
        return [
            {"name": c, "type": "integer" if c in INTEGER_FEATURES else "double",
             "min": FEATURE_RANGES[c][0], "max": FEATURE_RANGES[c][1], "required": c not in self.optional}
            for c in self.columns
        ]

    def parse(self, body: bytes) -> np.ndarray:
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise RequestError(400, f"the body must be a JSON object with one of the keys {', '.join(FORMATS)}")
        rows = extract_rows(payload, self.columns, self.optional)
        return self.matrix(rows)

    def matrix(self, rows: list) -> np.ndarray:
        if not rows:
            raise RequestError(400, "empty batch: send at least one row")
        types = {type(v) for row in rows for v in row}
        if not types <= _NUMBER_TYPES and not self._nulls_only_where_optional(types, rows):
            self._raise_type_errors(rows)
        try:
            X = np.array(rows, dtype=np.float64)
        except OverflowError:  # an integer beyond float range (only the lenient parser yields one)
            X = np.array([[v if v is None or abs(v) < 1e308 else math.inf for v in row] for row in rows], dtype=np.float64)
        # NaN fails both comparisons, so it is caught here along with infinities and bad ranges;
        # in an optional field it means "not sent" (numpy turns null into NaN above).
        bad = ~((X >= self.low) & (X <= self.high))
        if self.integer.any():
            bad |= self.integer & (X != np.floor(X))
        if self.optional:
            bad &= ~(self.is_optional & np.isnan(X))
        if bad.any():
            self._raise_value_errors(X, bad)
        return X

    def _nulls_only_where_optional(self, types: set, rows: list) -> bool:
        if not self.optional or not types <= _NUMBER_TYPES | {type(None)}:
            return False
        return all(row[j] is not None for row in rows for j in self._required)

    def _raise_type_errors(self, rows: list) -> None:
        errors = []
        for i, row in enumerate(rows):
            for column, value in zip(self.columns, row):
                if type(value) not in _NUMBER_TYPES and not (value is None and column in self.optional):
                    expected = "an integer" if column in INTEGER_FEATURES else "a number"
                    errors.append((i, column, f"{column} must be {expected}, got {_describe(value)}"))
                    if len(errors) >= MAX_LISTED_ERRORS:
                        raise _combined(errors)
        raise _combined(errors)

    def _raise_value_errors(self, X: np.ndarray, bad: np.ndarray) -> None:
        errors = []
        for i, j in np.argwhere(bad)[:MAX_LISTED_ERRORS]:
            column, value = self.columns[j], float(X[i, j])
            errors.append((int(i), column, self._value_problem(column, value, j)))
        raise _combined(errors)

    def _value_problem(self, column: str, value: float, j: int) -> str:
        if math.isnan(value):
            return f"{column} is NaN: send a finite number"
        if math.isinf(value):
            return f"{column} is {'-' if value < 0 else ''}infinite: send a finite number"
        low, high = self.low[j], self.high[j]
        shown = int(value) if value.is_integer() else value
        if self.integer[j] and not value.is_integer():
            return f"{column}={shown} must be a whole number from {int(low)} to {int(high)}"
        if self.integer[j]:
            hint = _HINTS.get(column, "")
            return f"{column}={shown} is out of range: it must be from {int(low)} to {int(high)}{hint}"
        return f"{column}={shown} is out of range: it must be from {low:g} to {high:g}"


def _combined(errors: list[tuple[int, str, str]]) -> RequestError:
    row, field, message = errors[0]
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    listed = [{"row": r, "field": f, "message": m} for r, f, m in errors]
    return RequestError(400, f"row {row}: {message}{more}", field=field, row=row, errors=listed)
