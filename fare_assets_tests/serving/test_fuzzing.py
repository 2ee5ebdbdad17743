"""Property: whatever a client sends, the endpoint answers 200 or a 4xx with a JSON reason, never 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fare_assets.ml.schema import FEATURE_COLUMNS, FEATURE_RANGES
from fare_assets.serving.contract import FORMATS
from fare_assets_tests.serving.conftest import read_metrics

REQUESTS = 1200

scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


def near_range(column: str):
    """Values at, inside and just outside each field's range, plus the wrong types."""
    low, high = FEATURE_RANGES[column]
    numbers = st.one_of(st.integers(int(low) - 3, int(high) + 3),
                        st.floats(low - 2, high + 2, allow_nan=False), st.sampled_from([low, high]))
    return st.one_of(numbers, numbers, numbers, scalars)


records = st.fixed_dictionaries(
    {},
    optional={c: near_range(c) for c in FEATURE_COLUMNS} | {"extra": json_values},
)
near_valid = st.lists(records, max_size=6)


def in_range(column: str):
    low, high = FEATURE_RANGES[column]
    if column == "trip_distance":
        return st.floats(low, high) | st.integers(int(low), int(high))
    return st.integers(int(low), int(high)) | st.integers(int(low), int(high)).map(float)


valid_records = st.fixed_dictionaries({c: in_range(c) for c in FEATURE_COLUMNS})


@st.composite
def mutated_records(draw) -> list[dict]:
    """Valid rows with one value replaced: the error must land on that exact field and row."""
    rows = draw(st.lists(valid_records, min_size=1, max_size=5))
    row, column = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from(FEATURE_COLUMNS))
    rows[row][column] = draw(near_range(column))
    return rows


@st.composite
def bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["valid", "mutated", "records", "split", "columnar", "anything", "bytes"]))
    key = draw(st.sampled_from(FORMATS))
    if kind == "valid":
        payload = {key: draw(st.lists(valid_records, min_size=1, max_size=5))}
    elif kind == "mutated":
        payload = {key: draw(mutated_records())}
    elif kind == "records":
        payload = {key: draw(near_valid)}
    elif kind == "split":
        rows = draw(near_valid)
        columns = draw(st.permutations([*FEATURE_COLUMNS, "extra"]))[: draw(st.integers(4, 7))]
        payload = {"dataframe_split": {"columns": columns, "data": [[r.get(c) for c in columns] for r in rows]}}
    elif kind == "columnar":
        payload = {key: draw(st.dictionaries(st.sampled_from(FEATURE_COLUMNS), st.lists(near_range("pickup_hour"),
                                                                                       max_size=3)))}
    elif kind == "anything":
        payload = draw(json_values)
    else:
        return draw(st.binary(max_size=64))
    if kind not in ("valid", "mutated") and draw(st.booleans()) and isinstance(payload, dict):
        payload[draw(st.sampled_from(["params", "extra", *FORMATS]))] = draw(json_values)
    return json.dumps(payload, allow_nan=True).encode()


def test_fuzzed_requests_never_get_a_5xx(http, invocations):
    statuses: list[int] = []
    before = read_metrics(http)

    @settings(max_examples=REQUESTS, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=bodies())
    def answers_200_or_400_with_a_reason(body):
        response = http.post(invocations, content=body, headers={"Content-Type": "application/json"})
        statuses.append(response.status_code)

        assert response.status_code in (200, 400), (body[:300], response.text)
        answer = response.json()
        if response.status_code == 200:
            assert len(answer["predictions"]) >= 1
        else:
            assert answer["message"] and answer["error_code"]

    answers_200_or_400_with_a_reason()

    after = read_metrics(http)
    counted = {status: after.get(f'fare_serving_requests_total{{route="invocations",status="{status}"}}', 0)
               - before.get(f'fare_serving_requests_total{{route="invocations",status="{status}"}}', 0)
               for status in (200, 400)}
    assert counted == {200: statuses.count(200), 400: statuses.count(400)}, "the server counts what was sent"
    assert len(statuses) >= 1000
    assert statuses.count(200) >= 20, "the generator should also produce valid requests"
