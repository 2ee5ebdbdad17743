"""Trip sources: every accepted schema normalises to one frame; bad rows are counted by reason."""

from __future__ import annotations

import http.server
import threading
from functools import partial

import pandas as pd
import pytest

from fare_assets.ml.schema import TRIP_COLUMNS
from fare_assets.ml.sources import (
    TripSchemaError, clean_trips, in_window, normalise_trips, read_trip_files, read_trips_by_pickup,
)
from fare_assets.ml.tlc import download_months, parse_tlc_months
from fare_assets.ml.trip_source import open_trip_source

TRIPS = {
    "pickup": ["2019-01-01 08:00:00", "2019-01-01 09:30:00", "2019-01-02 17:05:00"],
    "dropoff": ["2019-01-01 08:12:00", "2019-01-01 09:50:00", "2019-01-02 17:40:00"],
    "distance": [1.2, 3.4, 9.8],
    "fare": [7.5, 14.0, 30.5],
}


def official_tlc() -> pd.DataFrame:
    return pd.DataFrame({
        "VendorID": [1, 2, 1], "tpep_pickup_datetime": TRIPS["pickup"], "tpep_dropoff_datetime": TRIPS["dropoff"],
        "passenger_count": 1, "trip_distance": TRIPS["distance"], "RatecodeID": 1,
        "PULocationID": [161, 236, 132], "DOLocationID": [237, 141, 48], "fare_amount": TRIPS["fare"],
    })


def snake_case() -> pd.DataFrame:
    return pd.DataFrame({
        "vendor_id": [1, 2, 1], "pickup_datetime": TRIPS["pickup"], "dropoff_datetime": TRIPS["dropoff"],
        "trip_distance": TRIPS["distance"], "pickup_location_id": [161, 236, 132],
        "dropoff_location_id": [237, 141, 48], "fare_amount": TRIPS["fare"],
    })


def databricks_samples() -> pd.DataFrame:
    return pd.DataFrame({
        "tpep_pickup_datetime": TRIPS["pickup"], "tpep_dropoff_datetime": TRIPS["dropoff"],
        "trip_distance": TRIPS["distance"], "fare_amount": TRIPS["fare"],
        "pickup_zip": [10001, 10003, 11430], "dropoff_zip": [10019, 10021, 10011],
    })


CORE = ["tpep_pickup_datetime", "tpep_dropoff_datetime", "trip_distance", "fare_amount"]


def test_files_in_all_three_schemas_normalise_to_the_same_frame(tmp_path):
    official_tlc().to_parquet(tmp_path / "official.parquet")
    snake_case().to_csv(tmp_path / "snake.csv", index=False)
    databricks_samples().to_csv(tmp_path / "samples.csv", index=False)
    frames = {name: read_trip_files(str(tmp_path / name)) for name in ("official.parquet", "snake.csv", "samples.csv")}
    for frame in frames.values():
        assert list(frame.columns) == list(TRIP_COLUMNS)
        assert {c: str(t) for c, t in frame.dtypes.items()} == TRIP_COLUMNS
        pd.testing.assert_frame_equal(frame[CORE], frames["official.parquet"][CORE])
    assert frames["snake.csv"]["pickup_location_id"].tolist() == [161, 236, 132]
    assert frames["samples.csv"]["pickup_zip"].tolist() == [10001, 10003, 11430]
    assert frames["samples.csv"]["pickup_location_id"].isna().all()


def test_trip_ids_are_stable_across_reads_and_unique_for_repeated_trips():
    doubled = pd.concat([snake_case(), snake_case().iloc[[0]]], ignore_index=True)
    first, second = normalise_trips(doubled), normalise_trips(doubled)
    assert first["trip_id"].tolist() == second["trip_id"].tolist()
    assert first["trip_id"].is_unique


def test_bad_rows_are_rejected_and_counted_by_reason():
    raw = snake_case()
    bad = pd.DataFrame({
        "vendor_id": 1,
        "pickup_datetime": ["not a time", "2019-01-01 10:00:00", "2019-01-01 10:00:00", "2019-01-01 10:00:00",
                            "2019-01-01 10:00:00", "2019-01-01 10:00:00"],
        "dropoff_datetime": ["2019-01-01 10:10:00", "2019-01-01 10:10:00", "2019-01-01 10:10:00",
                             "2019-01-01 10:00:30", "2019-01-02 10:00:00", "2019-01-01 10:10:00"],
        "trip_distance": [1.0, 0.0, 1.0, 1.0, 1.0, 1.0],
        "pickup_location_id": 1, "dropoff_location_id": 2,
        "fare_amount": [5.0, 5.0, -3.0, 5.0, 5.0, 900.0],
    })
    kept, rejected = clean_trips(normalise_trips(pd.concat([raw, bad], ignore_index=True)))
    assert len(kept) == 3
    assert rejected == {
        "missing_pickup_time": 1, "non_positive_distance": 1, "non_positive_fare": 1,
        "duration_under_1_min": 1, "duration_over_4_hours": 1, "fare_over_500": 1,
    }


def test_a_wrong_schema_names_the_missing_columns():
    with pytest.raises(TripSchemaError) as error:
        normalise_trips(snake_case().drop(columns=["fare_amount", "dropoff_datetime"]))
    assert "fare_amount" in str(error.value) and "dropoff_datetime" in str(error.value)


def test_a_mistyped_column_is_named_with_an_example_value():
    raw = snake_case().assign(fare_amount=["cheap", "dear", "free"])
    with pytest.raises(TripSchemaError, match="'fare_amount' should hold numeric values but holds values like 'cheap'"):
        normalise_trips(raw)


def half_hourly_trips(count: int) -> pd.DataFrame:
    pickup = pd.date_range("2019-01-01 00:05", periods=count, freq="29min")
    return pd.DataFrame({
        "vendor_id": 1, "pickup_datetime": pickup.astype(str),
        "dropoff_datetime": (pickup + pd.Timedelta(minutes=12)).astype(str),
        "trip_distance": 2.0, "pickup_location_id": 1, "dropoff_location_id": 2, "fare_amount": 9.5,
    })


def test_rows_with_unparseable_pickup_times_are_counted_once_outside_every_window(tmp_path, caplog):
    trips = half_hourly_trips(100)
    trips.loc[::20, "pickup_datetime"] = "2019-01-32 25:61:00"  # 5% of the file
    trips.loc[[1, 2], "fare_amount"] = 0.0  # dirty rows the windows' cleaning counts
    path = tmp_path / "trips.csv"
    trips.to_csv(path, index=False)
    placed, unplaceable = read_trips_by_pickup([str(path)])
    assert unplaceable == {"missing_pickup_time": 5}
    days = pd.date_range("2019-01-01", "2019-01-04")
    windows = [clean_trips(in_window(placed, start, end)) for start, end in zip(days, days[1:])]
    kept = sum(len(clean) for clean, _ in windows)
    rejected = sum(sum(counts.values()) for _, counts in windows)
    assert (kept, rejected) == (93, 2)
    assert kept + rejected + sum(unplaceable.values()) == len(trips)
    assert f"{path}: 5 of 100 rows have no parseable pickup time" in caplog.text


@pytest.mark.parametrize("content, problem", [("", "empty file"), (",".join(snake_case().columns) + "\n", "no rows")])
def test_an_empty_csv_is_an_error_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "2019-01.csv"
    path.write_text(content)
    with pytest.raises(TripSchemaError, match=problem) as error:
        read_trip_files(str(path))
    assert str(error.value).startswith(f"{path}: ")


def test_an_undecodable_csv_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "2019-01.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(TripSchemaError, match="not readable as CSV") as error:
        read_trip_files(str(path))
    assert str(error.value).startswith(f"{path}: ")


def test_a_csv_with_another_separator_is_an_error_naming_the_file_and_the_separator(tmp_path):
    path = tmp_path / "2019-01.csv"
    snake_case().to_csv(path, sep=";", index=False)
    with pytest.raises(TripSchemaError, match="comma-separated, this one looks separated by ';'") as error:
        read_trip_files(str(path))
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize("nanos_per_unit", [10**9, 10**6, 10**3, 1], ids=["s", "ms", "us", "ns"])
def test_epoch_times_in_any_unit_read_as_their_2019_times(tmp_path, nanos_per_unit):
    expected = normalise_trips(snake_case())
    epoch = snake_case()
    for column in ("pickup_datetime", "dropoff_datetime"):
        epoch[column] = pd.to_datetime(epoch[column]).dt.as_unit("ns").astype("int64") // nanos_per_unit
    epoch.to_csv(tmp_path / "epoch.csv", index=False)
    read = read_trip_files(str(tmp_path / "epoch.csv"))
    pd.testing.assert_frame_equal(read[CORE], expected[CORE])
    assert read["tpep_pickup_datetime"].iloc[0] == pd.Timestamp("2019-01-01 08:00:00")


def test_an_epoch_zero_is_a_missing_time_not_1970():
    seconds = [1546329600, 0, 1546362300]  # 2019-01-01 08:00, a placeholder, 2019-01-01 17:05
    read = normalise_trips(snake_case().assign(pickup_datetime=seconds))
    assert read["tpep_pickup_datetime"].isna().tolist() == [False, True, False]


def test_a_numeric_time_column_that_is_no_epoch_time_is_named_with_an_example_value(tmp_path):
    path = tmp_path / "2019-01.csv"
    snake_case().assign(pickup_datetime=[20190101, 20190101, 20190102]).to_csv(path, index=False)
    with pytest.raises(TripSchemaError) as error:
        read_trip_files(str(path))
    message = str(error.value)
    assert message.startswith(f"{path}: column 'pickup_datetime' ") and "values like 20190101" in message
    assert "no epoch unit (seconds, milliseconds, microseconds, nanoseconds) places between 1980 and 2100" in message


def test_the_file_source_defaults_to_its_first_sixty_days(tmp_path):
    snake_case().to_csv(tmp_path / "trips.csv", index=False)
    source = open_trip_source(str(tmp_path / "*.csv"), cache_dir=tmp_path, tlc_base_url="unused")
    assert source.default_training_window() == (pd.Timestamp("2019-01-01"), pd.Timestamp("2019-03-02"))
    assert len(source.read(pd.Timestamp("2019-01-02"), pd.Timestamp("2019-01-03"))) == 1


def test_tlc_months_are_downloaded_once_from_the_configured_base_url(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    official_tlc().to_parquet(served / "yellow_tripdata_2019-01.parquet")
    february = official_tlc()
    for column in ("tpep_pickup_datetime", "tpep_dropoff_datetime"):
        february[column] = pd.to_datetime(february[column]) + pd.DateOffset(months=1)
    february.to_parquet(served / "yellow_tripdata_2019-02.parquet")
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        months = parse_tlc_months("tlc:2019-01..2019-02")
        assert months == ["2019-01", "2019-02"]
        first = download_months(months, base_url, tmp_path / "cache", progress=False)
        again = download_months(months, base_url, tmp_path / "cache", progress=False)
        assert first == again and all(p.exists() for p in first)
        assert len(requests) == 2  # the second call used the cache
        source = open_trip_source("tlc:2019-01..2019-02", cache_dir=tmp_path, tlc_base_url=base_url)
        assert len(source.read(pd.Timestamp("2019-01-01"), pd.Timestamp("2019-02-01"))) == 3
        with pytest.raises(OSError, match="yellow_tripdata_2019-03.parquet"):
            download_months(["2019-03"], base_url, tmp_path / "cache", progress=False)
        assert not list((tmp_path / "cache").glob("*.part"))
    finally:
        server.shutdown()


def test_a_malformed_tlc_spec_says_how_to_write_it():
    with pytest.raises(ValueError, match="tlc:YYYY-MM"):
        parse_tlc_months("tlc:2019")


def test_the_file_source_reports_rows_without_a_pickup_time_that_no_window_holds(tmp_path):
    trips = half_hourly_trips(100)
    trips.loc[::20, "pickup_datetime"] = "2019-01-32 25:61:00"
    trips.to_csv(tmp_path / "trips.csv", index=False)
    source = open_trip_source(str(tmp_path / "trips.csv"), cache_dir=tmp_path, tlc_base_url="unused")
    start, end = source.extent()
    assert len(source.read(start, end)) + sum(source.unplaceable_rows().values()) == 100
    assert source.unplaceable_rows() == {"missing_pickup_time": 5}


def row_by_row_trip_ids(trips: pd.DataFrame) -> pd.Series:
    """The definition of a trip id, one row at a time: the content hash in hex, "-k" on the k-th repeat."""
    key_columns = [c for c in TRIP_COLUMNS if c != "trip_id"]
    digest = pd.util.hash_pandas_object(trips[key_columns], index=False).map("{:016x}".format)
    repeat = digest.groupby(digest).cumcount()
    return digest + [f"-{k}" if k else "" for k in repeat]


def test_trip_ids_follow_their_row_by_row_definition():
    trips = normalise_trips(pd.concat([half_hourly_trips(50), half_hourly_trips(3), half_hourly_trips(1)],
                                      ignore_index=True))
    assert trips["trip_id"].tolist() == row_by_row_trip_ids(trips).tolist()
    assert trips["trip_id"].str.endswith("-2").sum() == 1


def tlc_parquet(path, months: range, copies: int = 1) -> pd.DataFrame:
    """Half-hourly trips in the official TLC schema with timestamp times, as the TLC publishes them."""
    trips = pd.concat([half_hourly_trips(40).assign(pickup_datetime=lambda t, m=m: pd.to_datetime(
        t["pickup_datetime"]) + pd.DateOffset(months=m)) for m in months for _ in range(copies)], ignore_index=True)
    official = pd.DataFrame({
        "VendorID": 1, "tpep_pickup_datetime": trips["pickup_datetime"],
        "tpep_dropoff_datetime": trips["pickup_datetime"] + pd.Timedelta(minutes=12),
        "trip_distance": trips["trip_distance"], "PULocationID": 161, "DOLocationID": 237,
        "fare_amount": trips["fare_amount"], "tip_amount": 1.0,
    })
    official.to_parquet(path)
    return official


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_window_read_is_that_window_of_the_whole_source(tmp_path, kind):
    tlc_parquet(tmp_path / "a.parquet", range(0, 2))
    tlc_parquet(tmp_path / "b.parquet", range(1, 3), copies=2)  # trips repeated within and across files
    if kind == "csv":
        for name in ("a", "b"):
            pd.read_parquet(tmp_path / f"{name}.parquet").to_csv(tmp_path / f"{name}.csv", index=False)
    pattern = str(tmp_path / f"*.{kind}")
    whole, _ = read_trips_by_pickup([pattern])
    source = open_trip_source(pattern, cache_dir=tmp_path / "cache", tlc_base_url="unused")
    for start, end in [("2019-01-01", "2019-03-02"), ("2019-02-01 06:00", "2019-02-01 12:00"), ("2018-01-01", "2018-02-01")]:
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        expected = in_window(whole, start, end).reset_index(drop=True)
        read = source.read(start, end)
        assert {c: str(t) for c, t in read.dtypes.items()} == TRIP_COLUMNS
        pd.testing.assert_frame_equal(read.astype({"trip_id": object}), expected.astype({"trip_id": object}))


def test_parquet_with_timestamp_times_is_read_in_place_and_csv_is_normalised_once(tmp_path):
    tlc_parquet(tmp_path / "trips.parquet", range(0, 1))
    half_hourly_trips(40).to_csv(tmp_path / "trips.csv", index=False)
    cache = tmp_path / "cache"
    source = open_trip_source(f"{tmp_path}/*.parquet,{tmp_path}/*.csv", cache_dir=cache, tlc_base_url="unused")
    assert len(source.read(*source.extent())) == 80
    copies = list((cache / "trips").glob("*.parquet"))
    assert [p.name.split(".")[0] for p in copies] == ["trips"] and copies[0].name.startswith("trips.csv.")
    modified = copies[0].stat().st_mtime_ns
    again = open_trip_source(str(tmp_path / "trips.csv"), cache_dir=cache, tlc_base_url="unused")
    assert len(again.read(*again.extent())) == 40
    assert copies[0].stat().st_mtime_ns == modified  # the copy was reused, not rewritten


def test_parquet_rows_without_a_pickup_time_are_counted_once_outside_every_window(tmp_path):
    official = tlc_parquet(tmp_path / "trips.parquet", range(0, 1))
    official.loc[::10, "tpep_pickup_datetime"] = pd.NaT
    official.to_parquet(tmp_path / "trips.parquet")
    source = open_trip_source(str(tmp_path / "trips.parquet"), cache_dir=tmp_path, tlc_base_url="unused")
    assert source.unplaceable_rows() == {"missing_pickup_time": 4}
    assert len(source.read(*source.extent())) == 36
    assert not (tmp_path / "trips").exists()  # read in place: no copy
