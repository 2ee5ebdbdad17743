"""Every request format Databricks Model Serving accepts gives exactly the in-process predictions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from fare_assets.ml.schema import FEATURE_COLUMNS
from fare_assets_tests.serving.conftest import sample_rows, served_version

ROWS = sample_rows(25, seed=11)


def as_records(rows):
    return {"dataframe_records": rows}


def as_split(rows):
    # Columns in an unusual order plus one the model does not take: matched by name, extra ignored.
    columns = [*reversed(FEATURE_COLUMNS), "trip_id"]
    return {"dataframe_split": {"columns": columns, "index": list(range(len(rows))),
                                "data": [[row.get(c, f"t{i}") for c in columns] for i, row in enumerate(rows)]}}


def as_instances(rows):
    return {"instances": rows}


def as_inputs_records(rows):
    return {"inputs": rows}


def as_inputs_columnar(rows):
    return {"inputs": {c: [row[c] for row in rows] for c in FEATURE_COLUMNS}}


def as_instances_columnar(rows):
    return {"instances": {c: [row[c] for row in rows] for c in FEATURE_COLUMNS}}


FORMATS = [as_records, as_split, as_instances, as_inputs_records, as_inputs_columnar, as_instances_columnar]


@pytest.mark.parametrize("encode", FORMATS, ids=lambda f: f.__name__)
def test_every_request_format_predicts_what_the_model_predicts_in_process(http, invocations, registry, encode):
    response = http.post(invocations, json=encode(ROWS))

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": registry.expected(served_version(response), ROWS)}


def test_the_seed_readme_curl_example_works_on_both_routes(http, invocations, registry):
    body = {"dataframe_records": [{"trip_distance": 3.5, "pickup_hour": 17, "pickup_dayofweek": 3,
                                   "pickup_month": 6, "is_weekend": 0, "is_rush_hour": 1}]}
    for path in (invocations, "/invocations"):
        response = http.post(path, json=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        assert response.json()["predictions"] == registry.expected(served_version(response), body["dataframe_records"])


def test_integral_floats_are_accepted_for_integer_fields_and_extra_fields_are_ignored(http, invocations, registry):
    row = {**ROWS[0], "pickup_hour": 17.0, "is_weekend": 0.0, "fare_amount": 12.5, "vendor": "CMT"}
    response = http.post(invocations, json={"dataframe_records": [row]})

    assert response.status_code == 200
    assert response.json()["predictions"] == registry.expected(served_version(response), [ROWS[0] | {"pickup_hour": 17}])


def test_concurrent_requests_batched_together_get_exactly_their_own_predictions(http, invocations, registry):
    batches = [sample_rows(1 + i % 5, seed=100 + i) for i in range(64)]

    def send(rows):
        response = http.post(invocations, json={"dataframe_records": rows})
        return rows, response.status_code, served_version(response), response.json()["predictions"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        for rows, status, version, predictions in pool.map(send, batches):
            assert status == 200
            assert predictions == registry.expected(version, rows)


def test_a_large_batch_is_scored_off_the_event_loop_with_the_same_predictions(http, invocations, registry):
    rows = sample_rows(5000, seed=3)
    response = http.post(invocations, json={"dataframe_records": rows})

    assert response.status_code == 200
    assert response.json()["predictions"] == registry.expected(served_version(response), rows)


def test_the_endpoint_names_the_registered_model_and_the_version_it_serves(http, registry):
    name = registry.settings.endpoint_name
    described = http.get(f"/serving-endpoints/{name}").json()

    assert described["name"] == name
    assert described["model"] == registry.settings.registered_model_name
    assert described["served_entities"] == [{"entity_name": registry.settings.registered_model_name,
                                             "entity_version": str(described["version"])}]
    assert [field["name"] for field in described["inputs"]] == list(FEATURE_COLUMNS)
    assert http.get("/info").json()["version"] == described["version"]
    assert http.get("/health").json() == {"status": "ok"}
    assert http.get("/ready").json() == {"status": "ready", "version": described["version"]}
