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


ZONES = ("pickup_location_id", "dropoff_location_id")
SIX_FIELDS = {"trip_distance": 3.5, "pickup_hour": 18, "pickup_dayofweek": 3, "pickup_month": 5,
              "is_weekend": 0, "is_rush_hour": 1}


@pytest.mark.parametrize("body", [
    {"dataframe_records": [SIX_FIELDS, {**SIX_FIELDS, "pickup_location_id": None, "dropoff_location_id": None}]},
    {"dataframe_split": {"columns": list(SIX_FIELDS), "data": [list(SIX_FIELDS.values())] * 2}},
    {"inputs": {k: [v, v] for k, v in SIX_FIELDS.items()}},
    {"instances": [SIX_FIELDS, SIX_FIELDS]},
], ids=["records, left out or null", "split", "columnar", "instances"])
def test_optional_location_fields_may_be_left_out_in_every_format_and_become_missing(body):
    contract = Contract([*FEATURE_COLUMNS, *ZONES], optional=ZONES)

    X = contract.parse(json.dumps(body).encode())

    assert X.shape == (2, 8)
    assert np.isnan(X[:, 6:]).all() and not np.isnan(X[:, :6]).any()


def test_optional_location_fields_when_sent_are_checked_like_any_field():
    contract = Contract([*FEATURE_COLUMNS, *ZONES], optional=ZONES)
    with_zones = {**SIX_FIELDS, "pickup_location_id": 132, "dropoff_location_id": 236}

    assert contract.parse(json.dumps({"dataframe_records": [with_zones]}).encode())[0, 6:].tolist() == [132, 236]
    with pytest.raises(RequestError, match=r"row 0: dropoff_location_id=266 is out of range"):
        contract.parse(json.dumps({"dataframe_records": [{**with_zones, "dropoff_location_id": 266}]}).encode())
    with pytest.raises(RequestError, match=r"row 0: pickup_location_id must be an integer, got a string \('JFK'\)"):
        contract.parse(json.dumps({"dataframe_records": [{**with_zones, "pickup_location_id": "JFK"}]}).encode())
    with pytest.raises(RequestError, match=r"row 0: pickup_location_id=1.5 must be a whole number"):
        contract.parse(json.dumps({"dataframe_records": [{**with_zones, "pickup_location_id": 1.5}]}).encode())


def test_a_required_field_stays_required_beside_optional_ones():
    contract = Contract([*FEATURE_COLUMNS, *ZONES], optional=ZONES)
    no_hour = {k: v for k, v in SIX_FIELDS.items() if k != "pickup_hour"}

    with pytest.raises(RequestError, match="row 0: missing field 'pickup_hour'"):
        contract.parse(json.dumps({"dataframe_records": [no_hour]}).encode())
    with pytest.raises(RequestError, match="row 0: pickup_hour must be an integer, got null"):
        contract.parse(json.dumps({"dataframe_records": [{**SIX_FIELDS, "pickup_hour": None}]}).encode())
    with pytest.raises(RequestError, match="missing field 'pickup_hour' in inputs"):
        contract.parse(json.dumps({"inputs": {k: [v] for k, v in no_hour.items()}}).encode())
    assert [f["required"] for f in contract.describe()] == [True] * 6 + [False, False]


ZONE_CONTRACT = Contract([*FEATURE_COLUMNS, *ZONES], optional=ZONES)
LEFT_OUT = object()
zone_row = st.tuples(row, st.one_of(st.integers(0, 265), st.none(), st.just(LEFT_OUT)),
                     st.one_of(st.integers(0, 265), st.none(), st.just(LEFT_OUT)))


def with_zones(six: dict, pickup, dropoff) -> dict:
    zones = {k: v for k, v in zip(ZONES, (pickup, dropoff)) if v is not LEFT_OUT}
    return {**six, **zones}


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(zone_row, min_size=1, max_size=10))
def test_zones_sent_null_or_left_out_in_any_mix_become_values_or_nan_in_their_own_cells(rows):
    records = [with_zones(*r) for r in rows]

    X = ZONE_CONTRACT.parse(json.dumps({"dataframe_records": records}).encode())

    expected = [[float(r[0][c]) for c in FEATURE_COLUMNS]
                + [np.nan if z is None or z is LEFT_OUT else float(z) for z in r[1:]] for r in rows]
    np.testing.assert_array_equal(X, np.array(expected))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(zone_row, min_size=1, max_size=5), data=st.data())
def test_one_bad_zone_is_reported_at_its_own_row_and_field(rows, data):
    records = [with_zones(*r) for r in rows]
    i = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(ZONES))
    records[i][column] = data.draw(st.one_of(
        st.integers(max_value=-1), st.integers(min_value=266), st.floats(0.01, 264.99).filter(lambda v: v != int(v)),
        st.sampled_from(["132", True, [], {}, float("inf")]),
    ))

    with pytest.raises(RequestError) as error:
        ZONE_CONTRACT.parse(json.dumps({"dataframe_records": records}).encode())
    assert (error.value.status, error.value.row, error.value.field) == (400, i, column)
