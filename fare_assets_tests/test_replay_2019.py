"""The replay on real 2019 TLC samples: a Champion trained on the two months to 29 March stays quiet through
an ordinary week, windows with a handful of trips or none raise no false alarm, and a window that
would run past the end of the data (the source's horizon) waits: nothing past it is scored or
judged, the batch schedule says why it skips, and `replay --until` stops there.

One ordinary week runs through the whole Dagster path here; every ordinary week of March-December,
weekly and daily, is checked with the same drift rules at the statistics level in ml/test_drift.py
(each replay step costs two Pipes subprocesses, see docs/replay.md for the measured speed)."""

import pandas as pd
import pytest
from dagster import AssetKey, build_schedule_context

from fare_assets.automation import build_batch_inference_schedule
from fare_assets.backends import open_target
from fare_assets.backends.interfaces import PREDICTIONS_TABLE
from fare_assets_tests.conftest import tlc_sample
from fare_assets_tests.pipeline import Pipeline
from fare_assets_tests.replaying import replay_cli

pytestmark = pytest.mark.slow
TINY_WEEK_END, EMPTY_WEEK_END = "2019-04-12", "2019-04-19"
# The data ends with two busy days, 19-20 April: the week from 19 April holds 2 of its 7 days.
HORIZON, PARTIAL_WEEK_END = pd.Timestamp("2019-04-21"), "2019-04-26"


def sparse_april(folder) -> str:
    """April 2019 thinned out: the real trips of 1-4 April (so the week from 29 March is whole), six
    in the week from 5 April, none in the next, then two busy days (so the source's extent, which
    ignores its outer 0.1%, still reaches past the empty week)."""
    april = pd.read_csv(tlc_sample(4), parse_dates=["pickup_datetime"])
    day = april["pickup_datetime"]
    parts = [april[day < "2019-04-05"], april[day.between("2019-04-05", "2019-04-12", inclusive="left")].head(6),
             april[day.between("2019-04-19", "2019-04-21", inclusive="left")]]
    path = folder / "sparse_april.csv"
    pd.concat(parts).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def replay_2019(nyc_tlc_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("tlc_home")
    months = ",".join(str(tlc_sample(m)) for m in (1, 2, 3))
    # Trained on the two months to 29 March, so one ordinary week comes before the sparse ones.
    pipeline = Pipeline(home, source=f"{months},{sparse_april(home)}", train_start="2019-01-29",
                        train_end="2019-03-29", batch_window="7d", monitor_window="7d")
    steps = replay_cli(pipeline.env, until=PARTIAL_WEEK_END)
    yield pipeline, {s["window_end"][:10]: s for s in steps}
    pipeline.stop_endpoint()


def test_an_ordinary_2019_week_raises_no_should_retrain(replay_2019):
    _, steps = replay_2019
    ordinary = [s for end, s in steps.items() if end < TINY_WEEK_END]
    assert len(ordinary) == 1 and all(s["rows"] > 1500 and s["monitored"] for s in ordinary)
    assert [s["fired"] for s in ordinary if s["should_retrain"]] == []
    assert all(s["champion_version"] == 1 and s["retrained"] == [] for s in steps.values())


def test_a_week_with_a_handful_of_trips_raises_no_false_alarm(replay_2019):
    _, steps = replay_2019
    tiny = steps[TINY_WEEK_END]
    assert 0 < tiny["rows"] <= 6 and tiny["monitoring_status"] == "too_few_rows"  # after cleaning
    assert not tiny["should_retrain"] and tiny["fired"] == []


def test_an_empty_week_is_no_data_and_every_check_passes_unjudged(replay_2019):
    pipeline, steps = replay_2019
    empty = steps[EMPTY_WEEK_END]
    assert empty["rows"] == 0 and empty["mae"] is None
    assert empty["monitoring_status"] == "no_data" and not empty["should_retrain"]
    newest = pipeline.instance.get_latest_materialization_event(AssetKey("model_monitoring"))
    evaluations = [e.dagster_event.event_specific_data for e in pipeline.instance.all_logs(newest.run_id)
                   if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) == 5
    assert all(e.passed and e.metadata["judged"].value is False for e in evaluations)


def test_the_partial_last_week_waits_for_the_horizon_and_nothing_past_it_is_scored_or_judged(replay_2019):
    pipeline, steps = replay_2019
    assert max(steps) == EMPTY_WEEK_END and PARTIAL_WEEK_END not in steps
    assert not any(s["should_retrain"] or s["retrained"] for s in steps.values())
    waiting = pipeline.latest_metadata("predictions")
    assert waiting["status"].startswith("waiting") and pd.Timestamp(waiting["data_horizon"]) == HORIZON
    assert (waiting["window_start"], waiting["rows"]) == (f"{EMPTY_WEEK_END} 00:00:00", 0)
    scored = pipeline.store.read(PREDICTIONS_TABLE, columns=["tpep_pickup_datetime"])
    assert scored["tpep_pickup_datetime"].max() < pd.Timestamp(EMPTY_WEEK_END)
    assert pd.Timestamp(pipeline.latest_metadata("model_monitoring")["window_end"]) == pd.Timestamp(EMPTY_WEEK_END)
    assert pipeline.watermark() == pd.Timestamp(EMPTY_WEEK_END)


def test_the_batch_schedule_skips_naming_the_horizon(replay_2019):
    pipeline, _ = replay_2019
    schedule = build_batch_inference_schedule(pipeline.settings, open_target(pipeline.settings).trip_source().horizon)
    tick = schedule.evaluate_tick(build_schedule_context(instance=pipeline.instance))
    assert not tick.run_requests
    assert tick.skip_message == (f"waiting: the next window {EMPTY_WEEK_END} 00:00:00 .. {PARTIAL_WEEK_END} 00:00:00 "
                                 f"ends after the source's data horizon {HORIZON}")


def test_a_replay_never_steps_past_its_bound(replay_2019):
    pipeline, _ = replay_2019
    assert replay_cli(pipeline.env, until="2019-04-25") == []  # the next window would end on the 26th
    assert pipeline.watermark() == pd.Timestamp(EMPTY_WEEK_END)
