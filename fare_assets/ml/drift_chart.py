"""The drift chart: baseline vs window histograms of predictions and pickup hour, MAE over recent windows.

Pure: a baseline profile, a window and the MAE history in, PNG bytes out. Figures are built
without pyplot, so no global backend state and no display is involved (Agg canvas).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BASELINE_COLOR, WINDOW_COLOR, ALARM_COLOR = "#7f8c8d", "#2e86de", "#e74c3c"
PREDICTION_BINS = 30
HOURS = np.arange(25) - 0.5


def drift_chart(baseline: dict, window: pd.DataFrame, history: pd.DataFrame, title: str) -> bytes:
    """`baseline`: a drift profile (ml.drift); `window`: its `prediction` and `pickup_hour`;
    `history`: recent monitoring rows (`window_end`, `mae`, `should_retrain`), oldest first."""
    figure = Figure(figsize=(11, 3.0), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=10)
    predictions, hours, mae = figure.subplots(1, 3)
    base = baseline["columns"]
    _histogram(predictions, base["prediction"]["sketch"], window.get("prediction"),
               _prediction_bins(base["prediction"]["sketch"], window.get("prediction")), "predicted fare ($)")
    _histogram(hours, base["pickup_hour"]["sketch"], window.get("pickup_hour"), HOURS, "pickup hour")
    _mae_history(mae, history, baseline.get("mae"))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _prediction_bins(sketch: list[float], window) -> np.ndarray:
    values = np.asarray(sketch, float)
    if window is not None and len(window):
        values = np.concatenate([values, np.asarray(window, float)])
    high = float(np.quantile(values, 0.99)) if len(values) else 1.0
    return np.linspace(0.0, max(high, 1.0), PREDICTION_BINS + 1)


def _histogram(axes, sketch: list[float], window, bins: np.ndarray, label: str) -> None:
    # A sketch holds equally spaced quantiles: each point carries the same share of the baseline.
    points = np.clip(np.asarray(sketch, float), bins[0], bins[-1])
    axes.hist(points, bins=bins, density=True, color=BASELINE_COLOR, alpha=0.5, label="baseline")
    if window is not None and len(window):
        values = np.clip(np.asarray(window, float), bins[0], bins[-1])
        axes.hist(values, bins=bins, density=True, histtype="step", linewidth=1.8, color=WINDOW_COLOR,
                  label=f"window (n={len(values):,})")
    else:
        axes.text(0.5, 0.9, "no trips in the window", transform=axes.transAxes, ha="center", fontsize=8)
    axes.set_xlabel(label, fontsize=8)
    axes.set_yticks([])
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)


def _mae_history(axes, history: pd.DataFrame, baseline_mae: float | None) -> None:
    known = history.dropna(subset=["mae"]) if len(history) else history
    if len(known):
        x = np.arange(len(known))
        axes.plot(x, known["mae"], marker="o", markersize=3, color=WINDOW_COLOR, label="window MAE")
        alarms = known["should_retrain"].astype(bool).to_numpy()
        axes.scatter(x[alarms], known["mae"].to_numpy()[alarms], color=ALARM_COLOR, zorder=3, s=25,
                     label="should_retrain")
        ticks = x[:: max(1, len(x) // 4)]
        ends = pd.to_datetime(known["window_end"])
        axes.set_xticks(ticks, [ends.iloc[i].strftime(_tick_format(ends)) for i in ticks])
    if baseline_mae is not None:
        axes.axhline(baseline_mae, linestyle="--", color=BASELINE_COLOR, label="baseline MAE")
    axes.set_xlabel("MAE ($) by monitoring window end", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)


def _tick_format(ends: pd.Series) -> str:
    """Days when windows end on different days at midnight; hours too when windows are shorter."""
    sub_day = (ends != ends.dt.normalize()).any() or ends.dt.normalize().duplicated().any()
    return "%m-%d %H:%M" if sub_day else "%m-%d"
