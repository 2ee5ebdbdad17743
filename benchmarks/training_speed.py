"""Training time and MAE of our search against a grid-searched GradientBoostingRegressor.

Both fit the same rows (the default 60-day synthetic window, ~21.9k trips, or two months of the
real 2019 samples) and are judged on the same following month. Runs each side `--rounds` times,
interleaved, and prints medians and ratios ours/baseline.

    uv run python benchmarks/training_speed.py [--rounds 3] [--real ../shared/data/nyc_tlc]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

from fare_assets.ml.evaluation import regression_metrics
from fare_assets.ml.features import compute_features, feature_columns
from fare_assets.ml.sources import clean_trips, in_window, read_trip_files
from fare_assets.ml.synthetic import generate_trips
from fare_assets.ml.training import search_model

GBR_GRID = {"n_estimators": [100, 200], "max_depth": [3, 5], "learning_rate": [0.05, 0.1]}


def datasets(real_dir: Path | None):
    synthetic = clean_trips(generate_trips("2016-01-01", "2016-04-01"))[0]
    yield "synthetic 2016", split(synthetic, "2016-01-01", "2016-03-01", "2016-04-01")
    if real_dir and real_dir.exists():
        real = clean_trips(read_trip_files(str(real_dir / "yellow_tripdata_sample_2019-0[1-3].csv")))[0]
        yield "real 2019", split(real, "2019-01-01", "2019-03-01", "2019-04-01")


def split(trips, start, cut, end):
    def xy(frame):
        return compute_features(frame)[feature_columns()].to_numpy(float), frame["fare_amount"].to_numpy()

    return xy(in_window(trips, pd.Timestamp(start), pd.Timestamp(cut))), xy(in_window(trips, pd.Timestamp(cut), pd.Timestamp(end)))


def ours(X, y):
    return search_model(X, y, feature_columns()).model


def grid_searched_gbr(X, y):
    search = GridSearchCV(GradientBoostingRegressor(random_state=0), GBR_GRID, cv=TimeSeriesSplit(3),
                          scoring="neg_mean_absolute_error", n_jobs=1)
    return search.fit(X, y).best_estimator_


def measure(fit, train, test):
    started = time.perf_counter()
    model = fit(*train)
    seconds = time.perf_counter() - started
    return seconds, regression_metrics(test[1], model.predict(test[0]))["mae"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/nyc_tlc")
    args = parser.parse_args()
    print(f"{'data':<16}{'rows':>7}  {'ours s':>7}{'GBR grid s':>11}{'ratio':>7}  {'ours MAE':>9}{'GBR MAE':>9}{'ratio':>7}")
    for name, (train, test) in datasets(args.real):
        results = {"ours": [], "gbr": []}
        for _ in range(args.rounds):  # interleaved: both sides see the same machine noise
            results["ours"].append(measure(ours, train, test))
            results["gbr"].append(measure(grid_searched_gbr, train, test))
        (ts, ms), (tg, mg) = ([statistics.median(v) for v in zip(*results[k])] for k in ("ours", "gbr"))
        print(f"{name:<16}{len(train[1]):>7}  {ts:>7.2f}{tg:>11.2f}{ts / tg:>7.2f}  {ms:>9.3f}{mg:>9.3f}{ms / mg:>7.3f}")


if __name__ == "__main__":
    main()
