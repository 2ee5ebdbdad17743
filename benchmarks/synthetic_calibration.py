"""Synthetic trips (2016-01..02) side by side with real TLC yellow trips (2019-01..02).

The meter rules of 2019 are those of 2016 (only surcharges changed), so fares are comparable.
Both sides get the same comparison cleaning and the same model; prints a Markdown table.

    uv run python benchmarks/synthetic_calibration.py [--data-dir /work/shared/data/nyc_tlc]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingRegressor

from fare_assets.ml.features import compute_features
from fare_assets.ml.schema import DROPOFF_TIME, PICKUP_TIME
from fare_assets.ml.sources import clean_trips, normalise_trips
from fare_assets.ml.synthetic import SCENARIOS, generate_trips, parse_scenario

QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90, 0.99)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def read_real(data_dir: Path) -> pd.DataFrame:
    real = pd.concat(
        [normalise_trips(pd.read_csv(data_dir / f"yellow_tripdata_sample_2019-{m:02d}.csv")) for m in (1, 2)],
        ignore_index=True,
    )
    # The sample files hold a few pickups outside their month.
    return real[(real[PICKUP_TIME] >= "2019-01-01") & (real[PICKUP_TIME] < "2019-03-01")]


def clean(trips: pd.DataFrame) -> pd.DataFrame:
    """The project's own cleaning rule (fare in (0, 500], distance in (0, 100], 1 min to 4 h)."""
    kept, _ = clean_trips(trips)
    return kept.sort_values(PICKUP_TIME, kind="stable").reset_index(drop=True)


def fit(features: pd.DataFrame, fares) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=200, random_state=0).fit(features, fares)


def scenario_effects(baseline: pd.DataFrame) -> pd.DataFrame:
    """A model trained on the baseline window, scored on the two weeks after each scenario starts."""
    model = fit(compute_features(baseline), baseline["fare_amount"])
    baseline_predictions = model.predict(compute_features(baseline))
    rows = {}
    for spec in ["", *(f"{name}@2016-03-01" for name in SCENARIOS)]:
        after = clean(generate_trips("2016-03-01", "2016-03-15", parse_scenario(spec)))
        predictions = model.predict(compute_features(after))
        rows[spec or "(none)"] = {
            "trips/day": len(after) / 14,
            "median mi": after["trip_distance"].median(),
            "mean fare $": after["fare_amount"].mean(),
            "MAE $": np.abs(predictions - after["fare_amount"]).mean(),
            "KS pickup hour": ks_2samp(baseline[PICKUP_TIME].dt.hour, after[PICKUP_TIME].dt.hour).statistic,
            "KS distance": ks_2samp(baseline["trip_distance"], after["trip_distance"]).statistic,
            "KS prediction": ks_2samp(baseline_predictions, predictions).statistic,
        }
    return pd.DataFrame(rows).T


def model_errors(trips: pd.DataFrame) -> dict[str, float]:
    """The same model on both sides: six features, first 80% by time to train, the rest to test."""
    features, fares = compute_features(trips), trips["fare_amount"].to_numpy()
    minutes = ((trips[DROPOFF_TIME] - trips[PICKUP_TIME]).dt.total_seconds() / 60).to_numpy()
    cut = int(len(trips) * 0.8)
    model = fit(features[:cut], fares[:cut])
    errors = np.abs(model.predict(features[cut:]) - fares[cut:])
    with_duration = features.assign(duration_minutes=minutes)
    oracle = fit(with_duration[:cut], fares[:cut])
    return {
        "MAE, six features ($)": errors.mean(),
        "median abs error ($)": np.median(errors),
        "MAE if duration were known ($)": np.abs(oracle.predict(with_duration[cut:]) - fares[cut:]).mean(),
    }


def profile(trips: pd.DataFrame) -> dict[str, float]:
    pickup = trips[PICKUP_TIME]
    minutes = (trips[DROPOFF_TIME] - pickup).dt.total_seconds() / 60
    mph = trips["trip_distance"] / (minutes / 60)
    rows: dict[str, float] = {"trips (after cleaning)": len(trips)}
    for name, values in (("distance mi", trips["trip_distance"]), ("fare $", trips["fare_amount"]),
                         ("duration min", minutes)):
        rows |= {f"{name} p{round(q * 100)}": values.quantile(q) for q in QUANTILES}
        rows[f"{name} mean"] = values.mean()
    rows["share of $52 fares %"] = 100 * (trips["fare_amount"] == 52).mean()
    rows["median mph 08-18h weekdays"] = mph[(pickup.dt.hour.between(8, 18)) & (pickup.dt.day_of_week < 5)].median()
    rows["median mph 00-05h"] = mph[pickup.dt.hour < 6].median()
    hours = pickup.dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0)
    rows |= {f"hour {h:02d} %": 100 * share for h, share in hours.items()}
    days = pickup.dt.day_of_week.value_counts(normalize=True).reindex(range(7), fill_value=0)
    rows |= {f"{WEEKDAYS[d]} %": 100 * share for d, share in days.items()}
    # Shares depend on how many Mondays etc. the window holds; trips per such day do not.
    per_day = pickup.dt.normalize().value_counts()
    by_weekday = per_day.groupby(per_day.index.day_of_week).mean()
    rows |= {f"{WEEKDAYS[d]} trips/day vs average day": v / per_day.mean() for d, v in by_weekday.items()}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data/nyc_tlc"))
    args = parser.parse_args()
    began = time.perf_counter()
    synthetic_raw = generate_trips("2016-01-01", "2016-03-01")
    generation_seconds = time.perf_counter() - began
    synthetic, real = clean(synthetic_raw), clean(read_real(args.data_dir))
    table = pd.DataFrame({
        "synthetic 2016-01..02": {**profile(synthetic), **model_errors(synthetic)},
        "real 2019-01..02": {**profile(real), **model_errors(real)},
    })
    print(f"synthetic: {len(synthetic_raw)} trips generated in {generation_seconds:.3f} s, "
          f"{len(synthetic_raw) - len(synthetic)} dropped by the comparison cleaning\n")
    print(markdown(table))
    print("\nScenarios from 2016-03-01: a model trained on the Jan-Feb window, scored on 2016-03-01..14\n")
    print(markdown(scenario_effects(synthetic)))


def markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(floatfmt=".2f") if _has_tabulate() else table.round(2).to_string()


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
