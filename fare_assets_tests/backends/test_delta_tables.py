"""Local Delta tables under concurrent writers: the first write is as idempotent as every later one,
and conflicting commits are retried instead of failing the run."""

from __future__ import annotations

import multiprocessing

import pandas as pd

from fare_assets.backends.delta_tables import LocalTableStore


def trips(first: int, count: int) -> pd.DataFrame:
    return pd.DataFrame({"trip_id": [f"t{i:05d}" for i in range(first, first + count)],
                         "fare_amount": [float(i % 50) for i in range(count)]})


def insert(root: str, first: int, count: int, start, results) -> None:
    start.wait()  # all writers commit at the same moment
    results.put(LocalTableStore(root).insert_new("predictions", trips(first, count), key="trip_id"))


def insert_at_once(root, batches: list[tuple[int, int]]) -> list[int]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(batches)), context.Queue()
    writers = [context.Process(target=insert, args=(str(root), first, count, start, results))
               for first, count in batches]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [w.exitcode for w in writers] == [0] * len(batches)
    return sorted(results.get(timeout=5) for _ in batches)


def test_two_writers_creating_the_table_at_once_insert_each_trip_once(tmp_path):
    inserted = insert_at_once(tmp_path, [(0, 1000), (0, 1000)])
    table = LocalTableStore(tmp_path).read("predictions")
    assert len(table) == 1000 and table["trip_id"].is_unique
    assert inserted == [0, 1000]


def test_concurrent_inserts_into_an_existing_table_are_retried_not_lost(tmp_path):
    LocalTableStore(tmp_path).insert_new("predictions", trips(0, 10), key="trip_id")
    inserted = insert_at_once(tmp_path, [(100, 500), (1000, 500), (2000, 500)])
    table = LocalTableStore(tmp_path).read("predictions")
    assert inserted == [500, 500, 500]
    assert len(table) == 1510 and table["trip_id"].is_unique


def test_inserted_rows_may_add_or_leave_out_columns_but_not_change_a_type(tmp_path):
    """A home scored by six-field models before zones were learned by default keeps its rows when a
    zone model's predictions arrive, and the other way round."""
    import pytest

    store = LocalTableStore(tmp_path)
    six = pd.DataFrame({"trip_id": ["a"], "prediction": [9.5]})
    store.insert_new("predictions", six, key="trip_id")

    assert store.insert_new("predictions", pd.DataFrame({"trip_id": ["b"], "prediction": [52.0],
                                                         "pickup_location_id": [132.0]}), key="trip_id") == 1
    assert store.insert_new("predictions", pd.DataFrame({"trip_id": ["c"], "prediction": [7.0]}), key="trip_id") == 1
    rows = store.read("predictions").set_index("trip_id").sort_index()
    assert rows["prediction"].tolist() == [9.5, 52.0, 7.0]
    assert rows["pickup_location_id"].isna().tolist() == [True, False, True]
    with pytest.raises(Exception, match="(?i)cast"):
        store.insert_new("predictions", pd.DataFrame({"trip_id": ["d"], "prediction": ["a lot"]}), key="trip_id")
    assert store.count("predictions") == 3


def test_a_table_appended_to_window_by_window_is_compacted_and_checkpointed_and_reads_the_same(tmp_path):
    from deltalake import DeltaTable

    from fare_assets.backends.delta_tables import MAINTENANCE_EVERY

    store = LocalTableStore(tmp_path)
    windows = 2 * MAINTENANCE_EVERY + 3
    for window in range(windows):
        assert store.insert_new("predictions", trips(window * 10, 10), key="trip_id") == 10
    store.append("model_monitoring", trips(0, 1))
    table = DeltaTable(store.location("predictions"))
    # Each maintenance folded the small files so far into one: a read opens a few files, not one per window.
    assert len(table.file_uris()) < MAINTENANCE_EVERY
    assert any(p.name.endswith(".checkpoint.parquet") for p in (tmp_path / "predictions" / "_delta_log").iterdir())
    rows = store.read("predictions").sort_values("trip_id", ignore_index=True)
    pd.testing.assert_frame_equal(rows, pd.concat([trips(w * 10, 10) for w in range(windows)], ignore_index=True))
    # Idempotent as before: the trips of a compacted window are still known.
    assert store.insert_new("predictions", trips(0, 10), key="trip_id") == 0


def test_a_failed_maintenance_loses_nothing_and_fails_no_write(tmp_path, monkeypatch, caplog):
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    from fare_assets.backends.delta_tables import MAINTENANCE_EVERY

    def refuse(self):
        raise DeltaError("disk full")

    monkeypatch.setattr(DeltaTable, "create_checkpoint", refuse)
    store = LocalTableStore(tmp_path)
    for window in range(MAINTENANCE_EVERY + 1):
        store.append("model_monitoring", trips(window, 1))
    assert len(store.read("model_monitoring")) == MAINTENANCE_EVERY + 1
    assert "maintenance of" in caplog.text and "disk full" in caplog.text
