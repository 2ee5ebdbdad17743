"""A home is bound to the data it was built from: switching the source in a used home fails at
once, naming both and the way out, and changes nothing."""

from __future__ import annotations

import json
import subprocess

import pytest

from fare_assets.cli import main
from fare_assets.home import HomeError, check_home, identity
from fare_assets.settings import Settings
from fare_assets_tests.conftest import settings_env
from fare_assets_tests.pipeline import Pipeline


def test_real_files_in_a_home_built_from_synthetic_trips_fail_before_any_task_runs(tmp_path, nyc_tlc_dir):
    synthetic = Pipeline(tmp_path, train_start="2016-01-01", train_end="2016-01-08")
    synthetic.materialize("feature_table")
    built = synthetic.store.read("feature_table")

    real = Pipeline(tmp_path, source=str(nyc_tlc_dir / "yellow_tripdata_sample_2019-0[1-3].csv"))
    result = real.materialize("feature_table", raise_on_error=False)

    message = Pipeline.failure_message(result)
    assert f"FARE_ASSETS_HOME={tmp_path} was built from other data" in message
    assert "source 'synthetic'" in message and "yellow_tripdata_sample_2019-0[1-3].csv" in message
    assert "FARE_ASSETS_HOME=<new folder>" in message and "fare-assets reset --yes" in message
    assert real.store.read("feature_table").equals(built)


def test_a_synthetic_replay_in_a_home_built_from_files_fails_and_says_how_out(tmp_path, monkeypatch, capsys):
    files = Settings.from_env(settings_env(tmp_path, source=str(tmp_path / "trips.csv")))
    check_home(files, claim=True)
    for key, value in settings_env(tmp_path).items():
        monkeypatch.setenv(key, value)

    assert main(["replay", "--until", "2016-03-01"]) == 2
    error = capsys.readouterr().err
    assert f"source {str(tmp_path / 'trips.csv')!r} (now 'synthetic')" in error
    assert "fare-assets reset --yes" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home.json"]


def test_the_same_files_named_from_another_folder_are_the_same_source(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    relative = Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path / "home"), "FARE_ASSETS_SOURCE": "data/*.csv"})
    check_home(relative, claim=True)
    monkeypatch.chdir(data)
    absolute = Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path / "home"), "FARE_ASSETS_SOURCE": str(data / "*.csv")})
    check_home(absolute, claim=True)
    assert json.loads((tmp_path / "home" / "home.json").read_text()) == identity(absolute)


def test_another_model_name_in_the_same_home_is_refused(tmp_path):
    check_home(Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path)}), claim=True)
    with pytest.raises(HomeError, match="model_name 'fare_predictor' \\(now 'tip_predictor'\\)"):
        check_home(Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path), "FARE_ASSETS_MODEL_NAME": "tip_predictor"}),
                   claim=False)


def test_reset_deletes_the_home_so_it_can_be_built_from_other_data(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    check_home(Settings.from_env({"FARE_ASSETS_HOME": str(home)}), claim=True)
    monkeypatch.setenv("FARE_ASSETS_HOME", str(home))
    assert main(["reset"]) == 2 and home.exists()  # without --yes nothing is deleted
    assert main(["reset", "--yes"]) == 0
    assert not home.exists()
    check_home(Settings.from_env({"FARE_ASSETS_HOME": str(home), "FARE_ASSETS_SOURCE": "tlc:2019-01"}), claim=True)


def test_a_home_that_is_a_file_is_named_with_what_is_wrong(tmp_path):
    (tmp_path / "home").write_text("not a folder")
    with pytest.raises(HomeError, match=f"FARE_ASSETS_HOME={tmp_path / 'home'} is a file, not a folder"):
        check_home(Settings.from_env({"FARE_ASSETS_HOME": str(tmp_path / "home")}), claim=True)


@pytest.fixture
def read_only_home(tmp_path):
    """A used home on a file system mounted read-only (root ignores permission bits, not that)."""
    folder = tmp_path / "mount"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root in a sandbox that allows mount(2)")
    try:
        check_home(Settings.from_env({"FARE_ASSETS_HOME": str(folder / "home")}), claim=True)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder / "home"
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_home_is_named_with_what_is_wrong_and_status_still_reads_it(read_only_home, monkeypatch, capsys):
    settings = Settings.from_env({"FARE_ASSETS_HOME": str(read_only_home)})
    with pytest.raises(HomeError, match=f"FARE_ASSETS_HOME={read_only_home} is not writable \\(Read-only file system\\)"):
        check_home(settings, claim=True)
    monkeypatch.setenv("FARE_ASSETS_HOME", str(read_only_home))
    assert main(["status"]) == 0
    assert "Champion            none" in capsys.readouterr().out
