"""The request contract in process: what it accepts, and that every error lands on the right cell."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fare_assets.ml.schema import FEATURE_COLUMNS, FEATURE_RANGES, INTEGER_FEATURES
from fare_assets.serving.contract import Contract, RequestError

CONTRACT = Contract(FEATURE_COLUMNS)


def in_range(column: str):
    low, high = FEATURE_RANGES[column]
    if column in INTEGER_FEATURES:
        return st.integers(int(low), int(high))
    return st.floats(low, high)


row = st.fixed_dictionaries({c: in_range(c) for c in FEATURE_COLUMNS})


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row, min_size=1, max_size=20))
def test_valid_rows_become_a_float_matrix_in_contract_order(rows):
    X = CONTRACT.parse(json.dumps({"dataframe_records": rows}).encode())

    assert X.dtype == np.float64
    assert X.tolist() == [[float(r[c]) for c in FEATURE_COLUMNS] for r in rows]


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row, min_size=1, max_size=5), data=st.data())
def test_one_bad_value_is_reported_at_its_own_row_and_field(rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(FEATURE_COLUMNS))
    low, high = FEATURE_RANGES[column]
    rows[i][column] = data.draw(st.one_of(
        st.floats(max_value=low, exclude_max=True), st.floats(min_value=high, exclude_min=True),
        st.sampled_from([None, "1", True, [], {}, float("nan"), float("inf")]),
    ))

    with pytest.raises(RequestError) as error:
        CONTRACT.parse(json.dumps({"dataframe_records": rows}, allow_nan=True).encode())

    assert (error.value.status, error.value.row, error.value.field) == (400, i, column)
    assert error.value.message.startswith(f"row {i}: {column}")


def test_a_contract_refuses_a_column_it_has_no_range_for():
    with pytest.raises(ValueError, match="passenger_count"):
        Contract([*FEATURE_COLUMNS, "passenger_count"])


def test_location_columns_are_part_of_the_contract_when_the_model_takes_them():
    contract = Contract([*FEATURE_COLUMNS, "pickup_location_id", "dropoff_location_id"])
    good = {**dict.fromkeys(FEATURE_COLUMNS, 1), "pickup_location_id": 132, "dropoff_location_id": 0}

    assert contract.parse(json.dumps({"inputs": [good]}).encode()).shape == (1, 8)
    with pytest.raises(RequestError, match="dropoff_location_id=266 is out of range"):
        contract.parse(json.dumps({"inputs": [{**good, "dropoff_location_id": 266}]}).encode())
