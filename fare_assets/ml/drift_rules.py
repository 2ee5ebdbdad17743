"""The drift rules and the statistics behind them (pure numpy/scipy; see docs/drift_rules.md).

Every rule needs an effect size above a floor AND significance at the window's sample size:
the floor keeps huge windows (millions of trips, where every seasonal wobble is "significant")
quiet, the test keeps tiny windows (a few hundred trips, where noise looks like an effect)
quiet. The significance level is split (Bonferroni) over the tests a window actually runs.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

FAMILY_ALPHA = 0.01            # false-alarm budget per window, shared by all its tests
MIN_ROWS = 20                  # fewer trips: status "too_few_rows", nothing can fire
MIN_LABELLED = 100             # trips with a known fare before the label rules are judged
KS_MIN_STAT = 0.10             # two-sample KS statistic floor (max CDF gap of 10 points)
PSI_MIN = 0.25                 # PSI floor: the conventional "major shift"
PSI_BINS = 10                  # baseline deciles (discrete columns get fewer, distinct bins)
FARE_LEVEL_MIN_SHIFT = 0.10    # |shift| of median log(actual / predicted): fares ~10% off
MAE_RISE_MIN_FRACTION = 0.75   # MAE up by 75% of the baseline MAE
VOLUME_DROP_RATIO = 0.25       # trips per hour fell to a quarter of the baseline rate...
VOLUME_SURGE_RATIO = 4.0       # ...or rose fourfold
VOLUME_MIN_HOURS = 24.0        # shorter windows ride the hour-of-day cycle: volume not judged
DAY_HOURS = 24.0               # ...and so do the distributions: a morning is not a shifted day
WEEK_HOURS = 168.0             # calendar columns are judged only over at least a whole week
NEVER_ELIGIBLE = ("pickup_month",)                            # drifts by construction
WEEK_ONLY = ("pickup_dayofweek", "is_weekend", "is_rush_hour")  # set by the calendar
CALENDAR = ("pickup_dayofweek", "is_weekend")  # judged against a typical week
PSI_ONLY = ("pickup_dayofweek",)  # categories without an order: a KS over Sun..Sat means little
EXEMPLAR_Z = 2.0                   # the exemplar's rules, reported only (exemplar_* fields)
EXEMPLAR_MAE_DEGRADATION = 5.0

RULES = {
    "family_alpha": FAMILY_ALPHA, "min_rows": MIN_ROWS, "min_labelled": MIN_LABELLED,
    "ks_min_stat": KS_MIN_STAT, "psi_min": PSI_MIN, "psi_bins": PSI_BINS,
    "fare_level_min_shift": FARE_LEVEL_MIN_SHIFT, "mae_rise_min_fraction": MAE_RISE_MIN_FRACTION,
    "volume_drop_ratio": VOLUME_DROP_RATIO, "volume_surge_ratio": VOLUME_SURGE_RATIO,
    "volume_min_hours": VOLUME_MIN_HOURS, "day_hours": DAY_HOURS, "week_hours": WEEK_HOURS,
    "never_eligible": list(NEVER_ELIGIBLE), "week_only": list(WEEK_ONLY),
    "psi_only": list(PSI_ONLY),
    "exemplar_z": EXEMPLAR_Z, "exemplar_mae_degradation": EXEMPLAR_MAE_DEGRADATION,
}


def sketch(values: np.ndarray, points: int) -> list[float]:
    """`points` quantiles (observed values, so discrete columns stay discrete)."""
    if len(values) == 0:
        return []
    return np.quantile(values, np.linspace(0, 1, points), method="inverted_cdf").tolist()


def sketch_cdf(sketch_values: list[float], x: np.ndarray) -> np.ndarray:
    """The ECDF a sketch stands for, at x (exact to 1 / (points - 1))."""
    s = np.asarray(sketch_values, float)
    count = np.searchsorted(s, x, side="right")
    return np.clip((count - 1) / (len(s) - 1), 0.0, 1.0) if len(s) > 1 else (count > 0) * 1.0


def psi_edges(values: np.ndarray, bins: int = PSI_BINS) -> list[float]:
    """Right-closed bin edges: the baseline minimum and its inner quantiles, distinct."""
    inner = np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf")
    return np.unique(np.concatenate([[values.min()], inner])).tolist()


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


def mix_weights(window_dow: np.ndarray, base_counts: np.ndarray) -> np.ndarray | None:
    """The window's day-of-week mix, or None when the baseline lacks one of its days."""
    w = np.bincount(window_dow.astype(int) - 1, minlength=7)[:7] / len(window_dow)
    return None if np.any((w > 0) & (base_counts == 0)) else w


def ks_test(window: np.ndarray, cdfs: list, weights: np.ndarray, n_base: float):
    """Two-sample KS between the window and a (mixture of) baseline ECDF(s).

    The p-value is scipy's asymptotic two-sample one (`kstwo` at n*m/(n+m)), with the mixture's
    effective baseline size; conservative for discrete columns, as ks_2samp is.
    """
    w = np.sort(window)
    grid = np.unique(np.concatenate([w] + [np.asarray(c, float) for c in cdfs]))
    f_base = sum(wt * sketch_cdf(c, grid) for wt, c in zip(weights, cdfs) if wt > 0)
    d = float(np.max(np.abs(np.searchsorted(w, grid, side="right") / len(w) - f_base)))
    n_eff = max(1, round(len(w) * n_base / (len(w) + n_base)))
    return d, float(stats.kstwo.sf(d, n_eff))


def psi_test(window_counts: np.ndarray, base_fractions: np.ndarray, n_base: float):
    """PSI over the baseline's bins, and its p-value: n_eff * PSI ~ chi2(bins - 1) when nothing
    changed, so the same PSI means more in a big window than in a small one."""
    n = window_counts.sum()
    k = len(window_counts)
    p = (window_counts + 0.5) / (n + 0.5 * k)
    q = (base_fractions * n_base + 0.5) / (n_base + 0.5 * k)
    psi = float(np.sum((p - q) * np.log(p / q)))
    used = int(np.sum((window_counts > 0) | (base_fractions > 0)))
    n_eff = n * n_base / (n + n_base)
    return psi, float(stats.chi2.sf(n_eff * psi, max(used - 1, 1)))


def mae_rise_test(abs_err: np.ndarray, base_mae: float, base_abs_std: float, base_n: int):
    """One-sided z of the MAE rise over the standard error of the difference."""
    rise = float(abs_err.mean() - base_mae)
    se = float(np.sqrt(abs_err.var(ddof=1) / len(abs_err) + base_abs_std**2 / base_n))
    z = rise / se if se > 0 else 0.0
    return rise, z, float(stats.norm.sf(z))


def fare_level_test(log_ratio: np.ndarray, base_median: float):
    """Shift of the median log(actual / predicted), with a sign test against the baseline
    median: distribution-free, and deaf to the long tail of traffic-jam fares."""
    above, below = int(np.sum(log_ratio > base_median)), int(np.sum(log_ratio < base_median))
    p = stats.binomtest(above, above + below, 0.5).pvalue if above + below else 1.0
    return float(np.median(log_ratio) - base_median), float(p)


def volume_test(rows: int, hours: float, base_rows: int, base_rate: float):
    """Rate ratio of two Poisson counts and its exact conditional (binomial) p-value."""
    ratio, base_hours = (rows / hours) / base_rate, base_rows / base_rate
    p = stats.binomtest(rows, rows + base_rows, hours / (hours + base_hours)).pvalue
    return float(ratio), float(p)


def exemplar_metrics(cols: dict, mae_change: float | None, features) -> dict:
    """The exemplar's rules (z > 2 on mean shifts, MAE up by $5), in both z forms: reported only."""
    def z(column, form):
        return cols[column][form] if column in cols else None

    result = {"exemplar_mae_degradation": mae_change}
    for form, suffix in (("z_sample", ""), ("z_stderr", "_stderr")):
        values = [v for c in features if (v := z(c, form)) is not None]
        result[f"exemplar_prediction_drift_z{suffix}"] = z("prediction", form)
        result[f"exemplar_feature_drift_z{suffix}"] = max(values) if values else None
        result[f"exemplar_alert{suffix}"] = bool(
            (result[f"exemplar_prediction_drift_z{suffix}"] or 0) > EXEMPLAR_Z
            or (result[f"exemplar_feature_drift_z{suffix}"] or 0) > EXEMPLAR_Z
            or (mae_change or 0) > EXEMPLAR_MAE_DEGRADATION)
    return result
