"""The request contract: a Databricks-style JSON body in, a float64 matrix in model column order out.

Every way a body can be wrong becomes a RequestError whose message names the field and the row
(rows count from 0, in the order they were sent). Validation is vectorised after one pass that
checks Python types, so a 100-row batch costs about as much as a single row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import orjson

from fare_assets.ml.schema import FEATURE_RANGES, INTEGER_FEATURES
from fare_assets.serving.payloads import FORMATS, RequestError, extract_rows

_NUMBER_TYPES = frozenset({int, float})
_HINTS = {"pickup_dayofweek": " (1 = Sunday ... 7 = Saturday)"}
MAX_LISTED_ERRORS = 20


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

    def __init__(self, columns: Sequence[str]):
        unknown = [c for c in columns if c not in FEATURE_RANGES]
        if unknown:
            raise ValueError(f"model inputs {unknown} have no range in fare_assets.ml.schema.FEATURE_RANGES")
        self.columns = tuple(columns)
        self.low = np.array([FEATURE_RANGES[c][0] for c in columns], dtype=np.float64)
        self.high = np.array([FEATURE_RANGES[c][1] for c in columns], dtype=np.float64)
        self.integer = np.array([c in INTEGER_FEATURES for c in columns])

    def describe(self) -> list[dict]:
        return [
            {"name": c, "type": "integer" if c in INTEGER_FEATURES else "double",
             "min": FEATURE_RANGES[c][0], "max": FEATURE_RANGES[c][1]}
            for c in self.columns
        ]

    def parse(self, body: bytes) -> np.ndarray:
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise RequestError(400, f"the body must be a JSON object with one of the keys {', '.join(FORMATS)}")
        rows = extract_rows(payload, self.columns)
        return self.matrix(rows)

    def matrix(self, rows: list) -> np.ndarray:
        if not rows:
            raise RequestError(400, "empty batch: send at least one row")
        if not {type(v) for row in rows for v in row} <= _NUMBER_TYPES:
            self._raise_type_errors(rows)
        try:
            X = np.array(rows, dtype=np.float64)
        except OverflowError:  # an integer beyond float range (only the lenient parser yields one)
            X = np.array([[v if abs(v) < 1e308 else math.inf for v in row] for row in rows])
        # NaN fails both comparisons, so it is caught here along with infinities and bad ranges.
        bad = ~((X >= self.low) & (X <= self.high))
        if self.integer.any():
            bad |= self.integer & (X != np.floor(X))
        if bad.any():
            self._raise_value_errors(X, bad)
        return X

    def _raise_type_errors(self, rows: list) -> None:
        errors = []
        for i, row in enumerate(rows):
            for column, value in zip(self.columns, row):
                if type(value) not in _NUMBER_TYPES:
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
