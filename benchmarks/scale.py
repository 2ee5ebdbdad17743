"""Feature build, training and batch scoring at about 100 k, 1 M and 5 M trips per window, on the
local target: seconds, rows/s and peak RSS per step, the growth exponent per step, and the same
steps run with another git ref of the package (default HEAD) side by side.

Data: the real 2019 samples (Jan..Apr, 10 k trips a month), each trip repeated k times with its
times shifted by a few minutes per copy, written as monthly Parquet files in the official TLC
schema (all 18 columns, as the TLC publishes them). k is chosen so that the default training
window (the first 60 days) holds about `size` trips; the scored window (the 58 days after it)
holds about as many, and the files hold about 2 x size trips: a window never is the whole source.

Each step runs in a fresh subprocess (`--step`), so its peak RSS (from wait4) is its own:
- build: the build_features task's work: read the training window, clean, featurize, overwrite
  the Delta feature table.
- train: read the feature table's training columns (as the task does), the holdout split,
  search_model (its search and refit).
- score: PandasBatchScorer.score on the window after the training window: read, clean,
  featurize, predict with the trained model, insert into an empty Delta predictions table.

With `--locations on` (the default, as the local target does) features carry the pickup and
dropoff zones and the model learns them, with masked twins of up to MASKED_ROWS rows; `off` is the
six-field model.

    uv run python benchmarks/scale.py --sizes 100000,1000000,5000000 [--repeats 3] [--baseline-ref HEAD] [--locations on]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL = Path("/work/shared/data/nyc_tlc")
MONTHS = ("01", "02", "03", "04")
STEPS = ("build", "train", "score")
SCORE_DAYS = 58  # the window after the 60 training days that ends before the data's horizon
REPO = Path(__file__).resolve().parent.parent
LOCATIONS = os.environ.get("FARE_SCALE_LOCATIONS", "1") == "1"  # set for each step by the parent
TLC_NAMES = {
    "vendor_id": "VendorID", "pickup_datetime": "tpep_pickup_datetime",
    "dropoff_datetime": "tpep_dropoff_datetime", "rate_code_id": "RatecodeID",
    "pickup_location_id": "PULocationID", "dropoff_location_id": "DOLocationID",
}


def prepare(size: int, work: Path) -> Path:
    """Monthly Parquet files in the official TLC schema, reused across runs of the same size."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = work / f"data_{size}"
    if (data / "done").exists():
        return data
    data.mkdir(parents=True, exist_ok=True)
    samples = {m: pd.read_csv(REAL / f"yellow_tripdata_sample_2019-{m}.csv").rename(columns=TLC_NAMES)
               for m in MONTHS}
    first_60_days = sum(((s["tpep_pickup_datetime"] >= "2019-01-01") & (s["tpep_pickup_datetime"] < "2019-03-02")).sum()
                        for s in samples.values())
    copies = max(1, round(size / first_60_days))
    # Copy c moves by c * 37 s modulo 50 min: trips stay distinct, hours and weekdays stay real.
    shift = np.arange(copies, dtype="int64") * 37 % 3000 * 1_000_000
    for month, sample in samples.items():
        columns = {}
        for name in sample.columns:
            values = sample[name].to_numpy()
            if name.endswith("datetime"):
                micros = pd.to_datetime(sample[name]).to_numpy("datetime64[us]").astype("int64")
                values = (np.tile(micros, copies) + np.repeat(shift, len(sample))).astype("datetime64[us]")
            else:
                values = np.tile(values, copies)
            columns[name] = values
        pq.write_table(pa.table(columns), data / f"yellow_tripdata_2019-{month}.parquet")
    (data / "done").write_text(json.dumps({"copies": copies}))
    return data


def run_step(step: str, size: int, work: Path, data: Path, variant: str, package: Path | None,
             predict: str) -> dict:
    """One step in a fresh interpreter; its own peak RSS comes from wait4."""
    home = work / f"home_{size}_{variant.split('+')[0]}"
    result = work / f"result_{size}_{variant}_{step}.json"
    result.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(package) if package else str(REPO),
           "FARE_SCALE_LOCATIONS": os.environ.get("FARE_SCALE_LOCATIONS", "1")}
    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--home", str(home),
               "--data", str(data), "--result", str(result), "--predict", predict]
    with open(work / f"log_{size}_{variant}_{step}.txt", "w") as log:
        # cwd away from the checkout, so that PYTHONPATH decides which package is imported.
        child = subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{variant} {step} at {size:,} failed ({child.returncode}): see {log.name}")
    return {**json.loads(result.read_text()), "peak_mb": usage.ru_maxrss / 1024}


# ---- the steps, run in the child: only APIs that both the baseline and the current package have.

def step_build(home: Path, data: Path) -> dict:
    from fare_assets.backends.delta_tables import LocalTableStore
    from fare_assets.clock import training_window
    from fare_assets.ml.features import load_features
    from fare_assets.ml.trip_source import open_trip_source

    started = time.perf_counter()
    source = open_trip_source(str(data / "*.parquet"), cache_dir=home / "cache", tlc_base_url="unused")
    window = training_window(source.default_training_window(), None, None)
    features, rejected = load_features(source, window.start, window.end, LOCATIONS, with_unplaceable=True)
    features["window_start"], features["window_end"] = window.start, window.end
    LocalTableStore(home / "lakehouse").overwrite("feature_table", features)
    return {"rows": len(features), "seconds": time.perf_counter() - started,
            "window": [str(window.start), str(window.end)], "rejected": sum(rejected.values())}


def step_train(home: Path, data: Path) -> dict:
    import joblib

    from fare_assets.backends.delta_tables import LocalTableStore
    from fare_assets.ml.evaluation import regression_metrics
    from fare_assets.ml.features import model_inputs
    from fare_assets.ml.training import search_model
    from fare_assets.tasks import common

    started = time.perf_counter()
    store = LocalTableStore(home / "lakehouse")
    if hasattr(common, "training_data"):  # as the task reads it
        data = common.training_data(store, LOCATIONS, lambda fit_rows: LOCATIONS)
        X, y, columns, holdout = data.X, data.y, data.columns, data.holdout
        del data
    else:  # an older package
        from fare_assets.ml.features import feature_columns

        fit_rows, holdout = common.holdout_slice(common.training_rows(store, LOCATIONS))
        X, y, columns = model_inputs(fit_rows, LOCATIONS), fit_rows["fare_amount"].to_numpy(), feature_columns(LOCATIONS)
    search = search_model(X, y, columns)
    mae = regression_metrics(holdout["fare_amount"].to_numpy(), search.model.predict(model_inputs(holdout, LOCATIONS)))["mae"]
    seconds = time.perf_counter() - started
    joblib.dump(search.model, home / "model.joblib")
    return {"rows": len(y), "seconds": seconds, "holdout_mae": mae,
            "search_rows": getattr(search, "search_rows", len(y))}


class SavedModel:
    """The registry as PandasBatchScorer uses it: load_version, here the model the train step saved,
    wrapped to time its predict calls (the step's rows/s without them says what the rest costs)."""

    def __init__(self, path: Path, by_cells: bool):
        self.path, self.by_cells, self.predict_seconds = path, by_cells, 0.0

    def load_version(self, version: int):
        import joblib

        self.model = joblib.load(self.path)
        self.n_features_in_ = self.model.n_features_in_  # which inputs it takes (features.predict_features)
        return self

    def predict(self, X):
        started = time.perf_counter()
        predictions = predict_by_cells(self.model, X) if self.by_cells else self.model.predict(X)
        self.predict_seconds += time.perf_counter() - started
        return predictions


# What-if (--predict cells): the prediction PandasBatchScorer could make instead of model.predict.
# The fitted model is constant between its split thresholds, so one prediction per occupied cell
# of the thresholds' grid, looked up per row, equals model.predict bit for bit.
DENSE_CELLS = 1 << 24


def predict_by_cells(model, X):
    """The meter's line (fare_meter.py) plus the trees' prediction, one per occupied cell."""
    return model.line(X[:, model.distance_index]) + _trees_by_cells(model.regressor_, X)


def _trees_by_cells(model, X):
    import numpy as np

    columns, gbm = model[:-1].transform(X), model[-1]
    thresholds = _thresholds(gbm, columns.shape[1])
    dims = [len(t) + 1 for t in thresholds]
    if np.isnan(columns).any() or np.prod(dims, dtype=float) > 2**62:
        return model.predict(X)
    flat = np.ravel_multi_index([np.searchsorted(t, columns[:, f], side="left")
                                 for f, t in enumerate(thresholds)], dims)
    if np.prod(dims) <= DENSE_CELLS:  # a table over the whole grid: no sort
        occupied = np.zeros(np.prod(dims), dtype=bool)
        occupied[flat] = True
        cells = np.flatnonzero(occupied)
        table = np.empty(len(occupied))
        table[cells] = gbm.predict(_representatives(cells, thresholds, dims))
        return table[flat]
    cells, inverse = np.unique(flat, return_inverse=True)
    return gbm.predict(_representatives(cells, thresholds, dims))[inverse]


def _thresholds(gbm, n_features: int) -> list:
    import numpy as np

    found = [[] for _ in range(n_features)]
    for predictors in gbm._predictors:
        for predictor in predictors:
            nodes = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
            for f in np.unique(nodes["feature_idx"]):
                found[f].append(nodes["num_threshold"][nodes["feature_idx"] == f])
    return [np.unique(np.concatenate(t)) if t else np.empty(0) for t in found]


def _representatives(cells, thresholds, dims):
    """A point in each cell: its upper bound (a split sends x <= threshold left), past the last one."""
    import numpy as np

    return np.column_stack([np.append(t, t[-1] + 1 if len(t) else 0.0)[code]
                            for t, code in zip(thresholds, np.unravel_index(cells, dims))])


def step_score(home: Path, data: Path, by_cells: bool) -> dict:
    import shutil

    import pandas as pd

    from fare_assets.backends.delta_tables import LocalTableStore
    from fare_assets.backends.local import PandasBatchScorer
    from fare_assets.ml.trip_source import open_trip_source

    store = LocalTableStore(home / "lakehouse")
    shutil.rmtree(store.location("predictions"), ignore_errors=True)
    start = pd.Timestamp(store.read("feature_table", columns=["window_end"])["window_end"].iloc[0])
    end = start + pd.Timedelta(days=SCORE_DAYS)
    started = time.perf_counter()
    source = open_trip_source(str(data / "*.parquet"), cache_dir=home / "cache", tlc_base_url="unused")
    model = SavedModel(home / "model.joblib", by_cells)
    result = PandasBatchScorer(source, store, model, LOCATIONS).score(start, end, 1)
    seconds = time.perf_counter() - started
    return {"rows": result.rows, "inserted": result.inserted, "seconds": seconds, "mae": result.mae,
            "predict_seconds": model.predict_seconds, "window": [str(start), str(end)]}


def child(args) -> None:
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    steps = {"build": step_build, "train": step_train,
             "score": lambda *paths: step_score(*paths, by_cells=args.predict == "cells")}
    outcome = steps[args.step](home, Path(args.data))
    import fare_assets

    outcome["package"] = str(Path(fare_assets.__file__).parent)
    if "fare_meter" in sys.modules:
        outcome["fare_meter"] = sys.modules["fare_meter"].__file__
    Path(args.result).write_text(json.dumps(outcome, default=str))


# ---- the parent: data, variants, repeats, the table.

def extract(ref: str, work: Path) -> Path:
    """The package as it is at `ref`, for PYTHONPATH: fare_assets and the model's own module,
    fare_meter.py (a saved model unpickles its class from whichever fare_meter comes first)."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", ref], check=True, capture_output=True,
                            text=True).stdout.strip()
    target = work / f"ref_{commit[:12]}"
    if not (target / "fare_meter.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "fare_assets", "fare_meter.py"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def exponent(rows: list[float], seconds: list[float]) -> float:
    """Slope of log(seconds) against log(rows)."""
    return math.log(seconds[1] / seconds[0]) / math.log(rows[1] / rows[0])


def report(results: dict) -> None:
    variants = list(results)
    print(f"\n{'size':>9} {'step':<6}", end="")
    for variant in variants:
        print(f" | {variant + ' s':>12} {'rows/s':>9} {'peak MB':>8}", end="")
    print(" | time ratio  memory ratio" if len(variants) == 2 else "")
    sizes = sorted({size for runs in results.values() for size, _ in runs})
    for size in sizes:
        for step in STEPS:
            print(f"{size:>9,} {step:<6}", end="")
            cells = []
            for variant in variants:
                runs = results[variant].get((size, step))
                if not runs:
                    print(f" | {'-':>12} {'-':>9} {'-':>8}", end="")
                    cells.append(None)
                    continue
                seconds = statistics.median(r["seconds"] for r in runs)
                peak = statistics.median(r["peak_mb"] for r in runs)
                rows = runs[0]["rows"]
                print(f" | {seconds:>12.2f} {rows / seconds:>9,.0f} {peak:>8,.0f}", end="")
                cells.append((seconds, peak))
            if len(cells) == 2 and all(cells):
                print(f" | {cells[1][0] / cells[0][0]:>10.2f} {cells[1][1] / cells[0][1]:>13.2f}", end="")
            print()
    print("\nscore rows/s without the model's predict calls (what reading, cleaning, featurizing and the insert allow)")
    for variant in variants:
        for size in sizes:
            runs = results[variant].get((size, "score"), [])
            if runs and "predict_seconds" in runs[0]:
                rest = statistics.median(r["seconds"] - r["predict_seconds"] for r in runs)
                predict = statistics.median(r["predict_seconds"] for r in runs)
                print(f"  {variant:<14} {size:>9,}: {runs[0]['rows'] / rest:>9,.0f} rows/s; predict {predict:.2f} s")
    print("\ngrowth exponent (log-log slope of seconds against rows, between consecutive sizes)")
    for variant in variants:
        for step in STEPS:
            points = [(results[variant][(s, step)][0]["rows"], statistics.median(r["seconds"] for r in results[variant][(s, step)]))
                      for s in sizes if (s, step) in results[variant]]
            slopes = [exponent([a[0], b[0]], [a[1], b[1]]) for a, b in zip(points, points[1:])]
            print(f"  {variant:<10} {step:<6} " + "  ".join(f"{s:.2f}" for s in slopes))


def parent(args) -> None:
    work = Path(args.work or tempfile.mkdtemp(prefix="fare_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    variants = {"current": None} if "current" in args.variants else {}
    if args.predict == "cells":
        variants = {"current+cells": None} if variants else {}
    if args.baseline_ref and "baseline" in args.variants:
        variants = {args.baseline_ref: extract(args.baseline_ref, work), **variants}
    results = {variant: {} for variant in variants}
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        data = prepare(size, work)
        print(f"{size:,}: data in {data} ({time.perf_counter() - started:.1f} s to prepare)", flush=True)
        for _ in range(args.repeats):
            for variant, package in variants.items():
                for step in args.steps.split(","):
                    outcome = run_step(step, size, work, data, variant, package, args.predict)
                    results[variant].setdefault((size, step), []).append(outcome)
                    print(f"  {variant:<8} {step:<6} {outcome['rows']:>10,} rows {outcome['seconds']:8.2f} s "
                          f"{outcome['peak_mb']:8,.0f} MB  {json.dumps({k: v for k, v in outcome.items() if k not in ('rows', 'seconds', 'peak_mb', 'package')})}",
                          flush=True)
    (work / "results.json").write_text(json.dumps({v: {f"{s}:{st}": r for (s, st), r in runs.items()}
                                                    for v, runs in results.items()}, default=str))
    report(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline-ref", default="HEAD", help="git ref of the baseline package; empty: none")
    parser.add_argument("--steps", default=",".join(STEPS), help="a later step reuses the earlier steps' home")
    parser.add_argument("--variants", default="baseline,current", help="which of baseline,current to run")
    parser.add_argument("--work", default="", help="directory for data, homes and logs (reused: data is kept)")
    parser.add_argument("--predict", choices=("model", "cells"), default="model",
                        help="score with model.predict (what the package does) or the what-if predict_by_cells")
    parser.add_argument("--locations", choices=("on", "off"), default="on",
                        help="zones in the features and the model (the local target's default) or the six fields")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.step:
        os.environ["FARE_SCALE_LOCATIONS"] = "1" if args.locations == "on" else "0"
    child(args) if args.step else parent(args)


if __name__ == "__main__":
    main()
