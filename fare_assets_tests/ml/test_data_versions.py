"""The feature table's data version on the real 2019 files: build_features reports
versions.content_version of the window's clean, featurized trips (load_features, as here) and the
window's two bounds. The same trips give the same version wherever the files are read from and
however often, so an unchanged window reuses its registered model; one more day, or one fare
changed by a cent, gives another version, so a new model is trained. The reuse itself, through Dagster, is tested in
tasks/test_champion_alias.py."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from fare_assets.ml.features import load_features
from fare_assets.ml.trip_source import FileSource
from fare_assets.versions import content_version
from fare_assets_tests.conftest import tlc_sample

pytestmark = pytest.mark.usefixtures("nyc_tlc_dir")
START, END = pd.Timestamp("2019-01-01"), pd.Timestamp("2019-03-01")


def feature_version(paths, start=START, end=END) -> str:
    features, _ = load_features(FileSource([str(p) for p in paths]), start, end, include_location=True)
    return content_version(features)


@pytest.fixture(scope="module")
def jan_feb():
    return [tlc_sample(1), tlc_sample(2)]


def test_the_same_trips_read_twice_or_from_a_copy_elsewhere_have_one_version(jan_feb, tmp_path):
    copies = [shutil.copy(path, tmp_path / f"renamed_{i}.csv") for i, path in enumerate(jan_feb)]
    assert feature_version(jan_feb) == feature_version(jan_feb) == feature_version(copies)


def test_one_more_day_or_one_fare_changed_by_a_cent_is_another_version(jan_feb, tmp_path):
    with_march = [*jan_feb, tlc_sample(3)]
    february = pd.read_csv(jan_feb[1])
    ordinary = february.index[february["fare_amount"].between(6, 40) & february["trip_distance"].between(1, 10)][0]
    february.loc[ordinary, "fare_amount"] += 0.01
    changed = tmp_path / "february.csv"
    february.to_csv(changed, index=False)
    unchanged = feature_version(with_march)
    assert feature_version(with_march, end=END + pd.Timedelta(days=1)) != unchanged
    assert feature_version([jan_feb[0], changed, tlc_sample(3)]) != unchanged
