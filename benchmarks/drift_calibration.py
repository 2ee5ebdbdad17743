"""Calibrate the drift rules on the 2019 TLC samples (see docs/drift_rules.md).

A model trained on January-February 2019 (its last 20% by time is the baseline holdout) is
replayed over March-December in weekly and daily windows: every window that fires is a false
alarm. Then four shifts are built from the same data and applied from a window's start on:
each must fire in the first window that holds it; over the year we report the detection rate.

    uv run python benchmarks/drift_calibration.py [--data ../shared/data/nyc_tlc]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from fare_assets.ml.drift import build_baseline, evaluate_window
from fare_assets.ml.drift_rules import RULES
from fare_assets.ml.features import compute_features
from fare_assets.ml.sources import read_clean_trips
from fare_assets.ml.schema import FEATURE_COLUMNS
from fare_assets.ml.training import build_model, time_ordered_split

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nyc_tlc"
PARAMS = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20}
NIGHT = {20, 21, 22, 23, 0, 1, 2, 3, 4, 5}


def load_month(data: Path, month: int) -> pd.DataFrame:
    start = pd.Timestamp(2019, month, 1)
    return read_clean_trips(str(data / f"yellow_tripdata_sample_2019-{month:02d}.csv"), start, start + pd.offsets.MonthBegin())


def scored(model, trips: pd.DataFrame) -> pd.DataFrame:
    frame = compute_features(trips)[list(FEATURE_COLUMNS)]
    frame["prediction"] = model.predict(frame.to_numpy(float))
    frame["fare_amount"] = trips["fare_amount"].to_numpy(float)
    frame["time"] = trips["tpep_pickup_datetime"].to_numpy()
    return frame.reset_index(drop=True)


def train(data: Path):
    """The Jan-Feb model and its baseline; the scored Mar-Dec trips."""
    history = pd.concat([load_month(data, m) for m in (1, 2)], ignore_index=True)
    fit, holdout = time_ordered_split(history, "tpep_pickup_datetime", 0.2)
    X = compute_features(fit)[list(FEATURE_COLUMNS)].to_numpy(float)
    model = build_model(list(FEATURE_COLUMNS), PARAMS).fit(X, fit["fare_amount"].to_numpy())
    held = scored(model, holdout)
    baseline = build_baseline(held[list(FEATURE_COLUMNS)], held["prediction"].to_numpy(),
                              held["fare_amount"].to_numpy(), held["time"])
    later = pd.concat([load_month(data, m) for m in range(3, 13)], ignore_index=True)
    return model, baseline, later.sort_values("tpep_pickup_datetime", kind="stable").reset_index(drop=True)


# Shifts, applied to raw trips (so features and predictions follow), each a clear change.
def hour_mix(trips, rng):
    """Night pickups (20:00-05:59) three times as likely: a changed pickup-hour mix."""
    weight = np.where(trips["tpep_pickup_datetime"].dt.hour.isin(NIGHT), 3.0, 1.0)
    pick = rng.choice(len(trips), len(trips), replace=True, p=weight / weight.sum())
    return trips.iloc[np.sort(pick)]


def longer_trips(trips, rng):
    """Trips 50% longer, fares following the meter ($2.50 per added mile)."""
    out = trips.copy()
    out["fare_amount"] = out["fare_amount"] + 2.5 * 0.5 * out["trip_distance"]
    out["trip_distance"] = out["trip_distance"] * 1.5
    return out


def fare_rule(trips, rng):
    """Fares 20% higher for the same trips: predictions stay, actuals move."""
    return trips.assign(fare_amount=trips["fare_amount"] * 1.2)


def volume_collapse(trips, rng):
    """Nine trips in ten vanish."""
    return trips.iloc[::10]


SHIFTS = {"hour_mix": hour_mix, "longer_trips": longer_trips, "fare_rule": fare_rule,
          "volume_collapse": volume_collapse}


def windows(start: str, end: str, days: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    starts = pd.date_range(start, pd.Timestamp(end) - pd.Timedelta(days=days), freq=f"{days}D")
    return [(s, s + pd.Timedelta(days=days)) for s in starts]


def replay(baseline: dict, frame: pd.DataFrame, spans) -> list[dict]:
    """Evaluate each window [start, end) of a scored frame (sorted by time)."""
    times = frame["time"].to_numpy()
    results = []
    for start, end in spans:
        lo, hi = np.searchsorted(times, [start.to_datetime64(), end.to_datetime64()])
        hours = (end - start).total_seconds() / 3600
        results.append(evaluate_window(baseline, frame.iloc[lo:hi], hours) | {"_span": str(start.date())})
    return results


def summarise(name: str, results: list[dict]) -> None:
    rules = Counter(f"{f['rule']}:{f['column']}" for r in results for f in r["fired"])
    fired = sum(r["should_retrain"] for r in results)
    seed, seed_se = sum(r["exemplar_alert"] for r in results), sum(r["exemplar_alert_stderr"] for r in results)
    print(f"\n{name}: {len(results)} windows, should_retrain in {fired} "
          f"({fired / len(results):.1%}); by rule: {dict(rules) or '-'}")
    print(f"  exemplar (z over per-sample std > 2 or MAE +$5): {seed} windows; "
          f"exemplar z over standard error > 2: {seed_se} ({seed_se / len(results):.0%})")
    cols = ["trip_distance", "pickup_hour", "prediction"]
    for c in cols + ["pickup_dayofweek", "is_weekend", "is_rush_hour"]:
        ks = [r["columns"][c]["ks_stat"] for r in results if r["columns"][c]["eligible"]]
        psi = [r["columns"][c]["psi"] for r in results if r["columns"][c]["eligible"]]
        if ks:
            floor = "not a rule" if c in RULES["psi_only"] else f"floor {RULES['ks_min_stat']}"
            print(f"  {c:>16}: max KS {max(ks):.3f} ({floor}), "
                  f"max PSI {max(psi):.3f} (floor {RULES['psi_min']})")
    print(f"  max z_sample {max(r['exemplar_feature_drift_z'] or 0 for r in results):.2f}; "
          f"fare level shift {min(r['fare_level_shift'] for r in results):+.3f}.."
          f"{max(r['fare_level_shift'] for r in results):+.3f} (floor ±{RULES['fare_level_min_shift']}); "
          f"MAE change up to {max(r['mae_change'] / r['baseline_mae'] for r in results):+.0%} "
          f"(floor +{RULES['mae_rise_min_fraction']:.0%}); volume ratio "
          f"{min(r['volume_ratio'] for r in results):.2f}..{max(r['volume_ratio'] for r in results):.2f}")
    for r, f in ((r, f) for r in results for f in r["fired"]):
        print(f"    fired {r['_span']}: {f['rule']} {f['column']} value {f['value']:.3f} p {f['pvalue']:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    started = time.perf_counter()
    model, baseline, trips = train(args.data)
    print(f"baseline: {baseline['rows']} holdout trips {baseline['start']}..{baseline['end']}, "
          f"MAE {baseline['mae']:.3f}, bias {baseline['bias']:+.3f}, "
          f"{baseline['rate_per_hour']:.2f} trips/hour")
    plans = {"weekly": windows("2019-03-01", "2020-01-01", 7),
             "daily": windows("2019-03-01", "2020-01-01", 1)}
    ordinary = scored(model, trips)
    for name, spans in plans.items():
        summarise(f"ordinary {name} windows, Mar-Dec 2019", replay(baseline, ordinary, spans))
    print("\nconstructed shifts, from 2019-03-01 on: the first window that holds the shift, "
          "and detection over every window of Mar-Dec")
    for shift_name, shift in SHIFTS.items():
        shifted = scored(model, shift(trips, np.random.default_rng(0)))
        for name, spans in plans.items():
            results = replay(baseline, shifted, spans)
            first = results[0]
            rules = sorted({f"{f['rule']}:{f['column']}={f['value']:.3f}" for f in first["fired"]})
            print(f"  {shift_name:>15} {name:>6}: first window {'DETECTED' if first['should_retrain'] else 'missed'}"
                  f" ({', '.join(rules) or 'nothing fired'}); exemplar_alert {first['exemplar_alert']}; "
                  f"detected in {sum(r['should_retrain'] for r in results)}/{len(results)} windows")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
