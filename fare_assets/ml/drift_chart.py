"""The drift chart: baseline vs window histograms of predictions and pickup hour, MAE over recent windows.

Two pure steps: `chart_data` bins a baseline profile, a window and the MAE history into a small
JSON-able dict (numpy only, where the window is); `render` draws that dict as PNG bytes
(matplotlib, imported on first use, wherever the chart is shown). Figures are built without
pyplot, so no global backend state and no display is involved (Agg canvas).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

BASELINE_COLOR, WINDOW_COLOR, ALARM_COLOR = "#7f8c8d", "#2e86de", "#e74c3c"
PREDICTION_BINS = 30
HOURS = np.arange(25) - 0.5


def chart_data(baseline: dict, window: pd.DataFrame, history: pd.DataFrame, title: str) -> dict:
    """`baseline`: a drift profile (ml.drift); `window`: its `prediction` and `pickup_hour`;
    `history`: recent monitoring rows (`window_end`, `mae`, `should_retrain`), oldest first."""
    base = baseline["columns"]
    prediction_bins = _prediction_bins(base["prediction"]["sketch"], window.get("prediction"))
    known = history.dropna(subset=["mae"]) if len(history) else history
    return {
        "title": title,
        "prediction": _densities(base["prediction"]["sketch"], window.get("prediction"), prediction_bins),
        "pickup_hour": _densities(base["pickup_hour"]["sketch"], window.get("pickup_hour"), HOURS),
        "history": [{"window_end": str(pd.Timestamp(end)), "mae": float(mae), "should_retrain": bool(alarm)}
                    for end, mae, alarm in zip(known.get("window_end", []), known.get("mae", []),
                                               known.get("should_retrain", []))],
        "baseline_mae": float(baseline["mae"]) if baseline.get("mae") is not None else None,
    }


def render(data: dict) -> bytes:
    """The chart of `chart_data`, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 3.0), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(data["title"], fontsize=10)
    predictions, hours, mae = figure.subplots(1, 3)
    _histogram(predictions, data["prediction"], "predicted fare ($)")
    _histogram(hours, data["pickup_hour"], "pickup hour")
    _mae_history(mae, data["history"], data["baseline_mae"])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _prediction_bins(sketch: list[float], window) -> np.ndarray:
    values = np.asarray(sketch, float)
    if window is not None and len(window):
        values = np.concatenate([values, np.asarray(window, float)])
    high = float(np.quantile(values, 0.99)) if len(values) else 1.0
    return np.linspace(0.0, max(high, 1.0), PREDICTION_BINS + 1)


def _densities(sketch: list[float], window, bins: np.ndarray) -> dict:
    """Baseline and window densities over `bins`, values outside them counted in the end bins.
    A sketch holds equally spaced quantiles: each point carries the same share of the baseline."""
    def density(values) -> list[float]:
        return np.histogram(np.clip(np.asarray(values, float), bins[0], bins[-1]), bins=bins, density=True)[0].tolist()

    has_window = window is not None and len(window) > 0
    return {"edges": np.asarray(bins, float).tolist(), "baseline": density(sketch),
            "window": density(window) if has_window else None, "window_rows": int(len(window)) if has_window else 0}


def _histogram(axes, densities: dict, label: str) -> None:
    edges = densities["edges"]
    axes.stairs(densities["baseline"], edges, fill=True, color=BASELINE_COLOR, alpha=0.5, label="baseline")
    if densities["window"] is not None:
        axes.stairs(densities["window"], edges, linewidth=1.8, color=WINDOW_COLOR,
                    label=f"window (n={densities['window_rows']:,})")
    else:
        axes.text(0.5, 0.9, "no trips in the window", transform=axes.transAxes, ha="center", fontsize=8)
    axes.set_xlabel(label, fontsize=8)
    axes.set_yticks([])
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)


def _mae_history(axes, history: list[dict], baseline_mae: float | None) -> None:
    if history:
        x = np.arange(len(history))
        mae = np.array([h["mae"] for h in history])
        alarms = np.array([h["should_retrain"] for h in history])
        axes.plot(x, mae, marker="o", markersize=3, color=WINDOW_COLOR, label="window MAE")
        axes.scatter(x[alarms], mae[alarms], color=ALARM_COLOR, zorder=3, s=25, label="should_retrain")
        ticks = x[:: max(1, len(x) // 4)]
        ends = pd.to_datetime(pd.Series([h["window_end"] for h in history]))
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
