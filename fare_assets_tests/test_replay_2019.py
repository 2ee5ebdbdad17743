"""The replay on real 2019 TLC samples: a Champion trained on January-February stays quiet through
ordinary weeks, and windows with a handful of trips or none raise no false alarm.

Weekly windows through March 2019 run through the whole Dagster path here; the full
March-December replay, weekly and daily, is checked at the statistics level in ml/test_drift.py
(each replay step costs two Pipes subprocesses, see docs/replay.md for the measured speed)."""

import pandas as pd
import pytest
from dagster import AssetKey

from fare_assets_tests.conftest import tlc_sample
from fare_assets_tests.pipeline import Pipeline
from fare_assets_tests.replaying import replay_cli

pytestmark = pytest.mark.slow
TINY_WEEK_END, EMPTY_WEEK_END = "2019-04-12", "2019-04-19"


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
    pipeline = Pipeline(home, source=f"{months},{sparse_april(home)}", train_start="2019-01-01",
                        train_end="2019-03-01", batch_window="7d", monitor_window="7d")
    steps = replay_cli(pipeline.env, until=EMPTY_WEEK_END)
    yield pipeline, {s["window_end"][:10]: s for s in steps}
    pipeline.stop_endpoint()


def test_ordinary_2019_weeks_raise_no_should_retrain(replay_2019):
    _, steps = replay_2019
    ordinary = [s for end, s in steps.items() if end < TINY_WEEK_END]
    assert len(ordinary) == 5 and all(s["rows"] > 1500 and s["monitored"] for s in ordinary)
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
