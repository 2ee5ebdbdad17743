"""Drift monitoring: a model version's baseline profile, and the judgement of one window.

Pure functions (no I/O). The rules, their thresholds and the statistics live in drift_rules.py;
docs/drift_rules.md gives the rationale and the calibration on 2019 TLC data.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from fare_assets.ml import drift_rules as r
from fare_assets.ml.drift_rules import RULES  # noqa: F401  (re-exported for the asset)
from fare_assets.ml.schema import FEATURE_COLUMNS, LABEL

PROFILE_COLUMNS: tuple[str, ...] = FEATURE_COLUMNS + ("prediction",)
SKETCH_POINTS = 1001      # KS against the whole baseline: CDF exact to 0.001
DOW_SKETCH_POINTS = 201   # per day of week, for windows shorter than a week
PROFILE_VERSION = 1
_SCALARS = ("rows", "span_hours", "rate_per_hour", "labelled", "mae", "bias", "abs_error_std",
            "log_ratio_median", "start", "end", "profile_version")
_ARRAYS = ("sketch", "psi_edges", "bin_counts", "dow_days", "dow_counts", "dow_bin_counts",
           "dow_sketches")
ROW_COLUMNS: tuple[str, ...] = ("model_version", "column", "count", "mean", "std") + _SCALARS + _ARRAYS


def _label_stats(actual: np.ndarray, predicted: np.ndarray) -> dict:
    known = np.isfinite(actual)
    actual, predicted = actual[known], predicted[known]
    err = actual - predicted
    positive = (actual > 0) & (predicted > 0)
    return {
        "labelled": int(known.sum()),
        "mae": float(np.mean(np.abs(err))) if len(err) else None,
        "bias": float(np.mean(err)) if len(err) else None,
        "abs_error_std": float(np.std(np.abs(err), ddof=1)) if len(err) > 1 else None,
        "log_ratio": np.log(actual[positive] / predicted[positive]),
        "abs_error": np.abs(err),
    }


def build_baseline(features: pd.DataFrame, predictions: np.ndarray, actuals: np.ndarray,
                   pickup_times: pd.Series, trips_per_hour: float | None = None) -> dict:
    """The profile of a model version's holdout. Its trip rate (rows / span hours) is the volume
    baseline, so the holdout must be every trip of a contiguous time slice; otherwise pass the
    real rate as `trips_per_hour`. Give it at least a week of whole days (day-of-week strata)."""
    frame = features[list(FEATURE_COLUMNS)].reset_index(drop=True).astype(float)
    frame["prediction"] = np.asarray(predictions, float)
    times = pd.Series(pd.to_datetime(np.asarray(pickup_times)))
    span = (times.max() - times.min()).total_seconds() / 3600 if len(times) > 1 else 0.0
    # Day-of-week strata come from whole days only: a holdout that starts mid-Sunday would
    # otherwise teach that Sundays have no early hours.
    day = times.dt.normalize()
    partial = {day.min() if (times.min() - day.min()) > pd.Timedelta(hours=1) else None,
               day.max() if (times.max() - day.max()) < pd.Timedelta(hours=23) else None}
    whole = ~day.isin([d for d in partial if d is not None]).to_numpy()
    dow = np.where(whole, frame["pickup_dayofweek"].to_numpy(int), 0)
    days = day[whole].drop_duplicates()
    dow_days = np.bincount((days.dt.day_of_week + 1) % 7, minlength=7).tolist()  # 0 = Sunday
    labels = _label_stats(np.asarray(actuals, float), frame["prediction"].to_numpy())
    columns = {}
    for column in PROFILE_COLUMNS:
        x = frame[column].to_numpy()
        edges = r.psi_edges(x)
        by_day = [x[dow == d] for d in range(1, 8)]
        columns[column] = {
            "count": len(x), "mean": float(x.mean()), "std": float(x.std(ddof=1)),
            "sketch": r.sketch(x, SKETCH_POINTS), "psi_edges": edges,
            "bin_counts": r.bin_counts(x, edges).tolist(), "dow_days": dow_days,
            "dow_counts": [len(v) for v in by_day],
            "dow_bin_counts": [r.bin_counts(v, edges).tolist() for v in by_day],
            "dow_sketches": [r.sketch(v, DOW_SKETCH_POINTS) for v in by_day],
        }
    ratio = labels.pop("log_ratio")
    labels.pop("abs_error")
    return {
        "profile_version": PROFILE_VERSION, "rows": len(frame), "span_hours": float(span),
        "rate_per_hour": trips_per_hour or (len(frame) / span if span > 0 else None),
        "start": times.min().isoformat() if len(times) else None,
        "end": times.max().isoformat() if len(times) else None,
        **labels, "log_ratio_median": float(np.median(ratio)) if len(ratio) else None,
        "columns": columns,
    }


def profile_to_rows(profile: dict, model_version: int) -> list[dict]:
    """One flat row per profiled column; arrays as JSON strings. Columns: ROW_COLUMNS."""
    rows = []
    for column, stats in profile["columns"].items():
        row = {"model_version": int(model_version), "column": column,
               **{k: stats[k] for k in ("count", "mean", "std")},
               **{k: profile.get(k) for k in _SCALARS}}
        row.update({k: json.dumps(stats[k]) for k in _ARRAYS})
        rows.append(row)
    return rows


def profile_from_rows(rows: list[dict] | pd.DataFrame) -> dict:
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    if not records:
        raise ValueError("no baseline rows: the model version has no training_baseline profile")
    if len({int(row["model_version"]) for row in records}) > 1:
        raise ValueError("baseline rows of several model versions: select one version first")

    def scalar(value):
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else value

    first = records[0]
    profile = {k: scalar(first[k]) for k in _SCALARS}
    for k in ("rows", "labelled", "profile_version"):
        profile[k] = int(profile[k]) if profile[k] is not None else None
    profile["columns"] = {
        row["column"]: {"count": int(row["count"]), "mean": float(row["mean"]),
                        "std": float(row["std"]), **{k: json.loads(row[k]) for k in _ARRAYS}}
        for row in records
    }
    return profile


def _column_stats(base: dict, x: np.ndarray, weights: np.ndarray | None) -> dict:
    """Compare one column of the window with the baseline, mixed to the window's days if given."""
    mean, std = float(x.mean()), base["std"]
    shift = abs(mean - base["mean"])
    days = [d for d in range(7) if weights is not None and weights[d] > 0]
    if days:  # the baseline as it would look with the window's day-of-week mix
        counts = np.asarray(base["dow_counts"], float)
        cdfs, mix = [base["dow_sketches"][d] for d in days], weights[days]
        n_base = 1.0 / float(np.sum(mix**2 / counts[days]))
        fractions = sum(w * np.asarray(base["dow_bin_counts"][d]) / counts[d] for w, d in zip(mix, days))
    else:
        cdfs, mix, n_base = [base["sketch"]], np.ones(1), float(base["count"])
        fractions = np.asarray(base["bin_counts"]) / base["count"]
    ks, ks_p = r.ks_test(x, cdfs, mix, n_base)
    psi, psi_p = r.psi_test(r.bin_counts(x, base["psi_edges"]), np.asarray(fractions), n_base)
    return {
        "mean": mean, "baseline_mean": base["mean"], "ks_stat": ks, "ks_pvalue": ks_p,
        "psi": psi, "psi_pvalue": psi_p, "stratified": bool(days), "baseline_n_eff": n_base,
        "z_sample": shift / std if std > 0 else None,
        "z_stderr": shift / (std / np.sqrt(len(x))) if std > 0 else None,
    }


def evaluate_window(baseline: dict, window: pd.DataFrame, window_hours: float) -> dict:
    """Judge one monitoring window against its model version's baseline (see RULES)."""
    rows, hours = len(window), float(window_hours)
    status = "no_data" if rows == 0 else "too_few_rows" if rows < r.MIN_ROWS else "ok"
    rate = baseline.get("rate_per_hour")
    out = {"rows": rows, "window_hours": hours, "status": status, "columns": {},
           "volume_ratio": rows / hours / rate if rate and hours > 0 else None, "fired": [],
           "should_retrain": False}
    predicted = window["prediction"].to_numpy(float) if rows else np.empty(0)
    actual = (window[LABEL].to_numpy(float) if LABEL in window else np.full(rows, np.nan))
    labels = _label_stats(actual, predicted)
    base_mae = baseline.get("mae")
    out.update(labelled=labels["labelled"], mae=labels["mae"], baseline_mae=base_mae,
               mae_change=labels["mae"] - base_mae if labels["mae"] is not None and base_mae is not None else None,
               bias=labels["bias"], baseline_bias=baseline.get("bias"), fare_level_shift=None)
    if rows:
        base = baseline["columns"]["prediction"]
        counts, days = np.asarray(base["dow_counts"], float), np.asarray(base["dow_days"], float)
        # Others: the baseline with the window's day-of-week mix. Calendar columns: against a
        # typical week (the baseline's trips per day, by day of week). Month: as it is.
        # A baseline missing weekdays (the holdout of a short training window) is compared
        # like with like: only the window's trips on the weekdays it knows, stratified; and
        # calendar columns, which need a whole week on both sides, are not judged.
        dow = window["pickup_dayofweek"].to_numpy(int)
        known = counts[dow - 1] > 0
        mix = r.mix_weights(dow[known], counts) if known.any() else None
        week = counts / days / np.sum(counts / days) if np.all(days > 0) else None
        out["compared_rows"] = int(known.sum())
        for column in PROFILE_COLUMNS:
            stratified = column not in r.NEVER_ELIGIBLE and column not in r.CALENDAR
            values = window[column].to_numpy(float)
            weights = (mix if stratified else week if column in r.CALENDAR else None)
            stats = _column_stats(baseline["columns"][column],
                                  values[known] if stratified and known.any() else values, weights)
            stats["eligible"] = status == "ok" and hours >= r.DAY_HOURS and column not in r.NEVER_ELIGIBLE and (
                column not in r.WEEK_ONLY or (hours >= r.WEEK_HOURS and week is not None)) and (
                not stratified or bool(known.sum() >= r.MIN_ROWS))
            out["columns"][column] = stats
    labelled_ok = (status == "ok" and labels["labelled"] >= r.MIN_LABELLED
                   and (baseline.get("labelled") or 0) >= r.MIN_LABELLED)
    volume_ok = status == "ok" and hours >= r.VOLUME_MIN_HOURS and bool(rate)
    eligible = [c for c, s in out["columns"].items() if s["eligible"]]
    tests = 2 * len(eligible) - len(set(eligible) & set(r.PSI_ONLY)) + 2 * labelled_ok + volume_ok
    alpha = r.FAMILY_ALPHA / max(tests, 1)
    out.update(tests=tests, alpha_per_test=alpha)
    fired = out["fired"]

    def judge(rule, column, value, threshold, pvalue, fires):
        if fires and pvalue < alpha:
            fired.append({"rule": rule, "column": column, "value": value, "threshold": threshold,
                          "pvalue": pvalue, "alpha": alpha})

    for column in eligible:
        s = out["columns"][column]
        if column not in r.PSI_ONLY:
            judge("ks", column, s["ks_stat"], r.KS_MIN_STAT, s["ks_pvalue"], s["ks_stat"] >= r.KS_MIN_STAT)
        judge("psi", column, s["psi"], r.PSI_MIN, s["psi_pvalue"], s["psi"] >= r.PSI_MIN)
    if labelled_ok:
        rise, z, p = r.mae_rise_test(labels["abs_error"], base_mae, baseline["abs_error_std"],
                                     baseline["labelled"])
        out["mae_change_z"] = z
        limit = r.MAE_RISE_MIN_FRACTION * base_mae
        judge("mae_rise", LABEL, rise, limit, p, rise >= limit)
        shift, p = r.fare_level_test(labels["log_ratio"], baseline["log_ratio_median"])
        out.update(fare_level_shift=shift, fare_level_pvalue=p)
        judge("fare_level", LABEL, shift, r.FARE_LEVEL_MIN_SHIFT, p, abs(shift) >= r.FARE_LEVEL_MIN_SHIFT)
    if volume_ok:
        ratio, p = r.volume_test(rows, hours, baseline["rows"], rate)
        out["volume_pvalue"] = p
        low = ratio <= r.VOLUME_DROP_RATIO
        judge("volume", None, ratio, r.VOLUME_DROP_RATIO if low else r.VOLUME_SURGE_RATIO, p,
              low or ratio >= r.VOLUME_SURGE_RATIO)
    out["should_retrain"] = bool(fired)
    out.update(r.exemplar_metrics(out["columns"], out["mae_change"], FEATURE_COLUMNS))
    return out

