"""Data time, in one pure module: the watermark, the next batch window, the monitoring window, the
retraining window and the data horizon. Tasks, the drift sensor and `fare-assets replay` all use it,
so a live table and a replayed history follow the same rules.

Trips form a stream ordered by pickup time. Batch scoring keeps a watermark (the end of the newest
scored window; before any, the first training window's end) and scores the next window after it.
The source's horizon is the newest time up to which its data is complete: a window that would
reach past it is not scored yet; it waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd


@dataclass(frozen=True)
class Window:
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def __str__(self) -> str:
        return f"{self.start} .. {self.end}"


@dataclass(frozen=True)
class ScoringHistory:
    """What the tables say about data time: the training window's end, the scored windows and the
    ends of the monitored windows."""

    training_end: pd.Timestamp | None = None
    scored: tuple[Window, ...] = ()
    monitored_ends: tuple[pd.Timestamp, ...] = field(default=())

    @property
    def watermark(self) -> pd.Timestamp | None:
        if self.scored:
            return max(w.end for w in self.scored)
        return self.training_end

    @property
    def first_scored_start(self) -> pd.Timestamp | None:
        return min((w.start for w in self.scored), default=None)

    @property
    def last_monitored_end(self) -> pd.Timestamp | None:
        return max(self.monitored_ends, default=None)


class NoWatermark(RuntimeError):
    """Nothing has been trained yet, so data time has not started."""


def required_watermark(history: ScoringHistory) -> pd.Timestamp:
    if history.watermark is None:
        raise NoWatermark("no watermark yet: materialize feature_table (run the training job) first")
    return history.watermark


def batch_window(start: pd.Timestamp, length: timedelta) -> Window:
    return Window(pd.Timestamp(start), pd.Timestamp(start) + length)


def waits_for_horizon(window: Window, horizon: pd.Timestamp | None) -> bool:
    """A window reaching past the source's complete data is neither scored nor judged yet."""
    return horizon is not None and window.end > horizon


def monitoring_window(history: ScoringHistory, length: timedelta) -> Window:
    """The last `length` of data time before the watermark, clipped to the data that batch scoring
    has covered: before the first scored window there are no predictions, and counting that time
    would fake a volume drop."""
    watermark = required_watermark(history)
    first_scored = history.first_scored_start or watermark
    return Window(max(watermark - length, first_scored), watermark)


def monitoring_due(history: ScoringHistory, length: timedelta) -> bool:
    """At least one monitoring window of scored data time since the last monitored window."""
    watermark, since = history.watermark, history.last_monitored_end or history.first_scored_start
    return watermark is not None and since is not None and watermark - since >= length


def retraining_window(watermark: pd.Timestamp, days: int) -> tuple[date, date]:
    """The last `days` of data time before the watermark, as whole days (end exclusive)."""
    end = pd.Timestamp(watermark).floor("D")
    return (end - timedelta(days=days)).date(), end.date()


def shift_training_window(shift_start: pd.Timestamp, watermark: pd.Timestamp, days: int) -> tuple[date, date]:
    """From the day a shift began to the watermark, as whole days (end exclusive): at least one day,
    and no further back than `days` (a shift older than that is the new normal anyway)."""
    end = pd.Timestamp(watermark).floor("D")
    start = max(pd.Timestamp(shift_start).floor("D"), end - timedelta(days=days))
    return min(start, end - timedelta(days=1)).date(), end.date()


def reach_back_start(daily_rows: pd.Series, start: pd.Timestamp, min_rows: int) -> pd.Timestamp:
    """The latest day at or before `start` from which the window holds at least `min_rows` rows,
    given the rows per day (indexed by day) of the whole span it may reach back over; the span's
    first day when even that is short."""
    counts = daily_rows.sort_index(ascending=False)
    if counts[counts.index >= start].sum() >= min_rows:
        return start
    enough = counts.cumsum() >= min_rows
    candidates = counts.index[enough & (counts.index <= start)]
    if len(candidates):
        return pd.Timestamp(candidates[0])
    return min(pd.Timestamp(counts.index.min()), start) if len(counts) else start


def table_horizon(newest_pickup: pd.Timestamp | None, allowed_lateness: timedelta,
                  configured: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """A table's horizon: the configured one when given (a loader that knows what it has loaded),
    else the newest pickup less the lateness trips may still arrive with; None for an empty table."""
    if configured is not None:
        return pd.Timestamp(configured)
    return None if newest_pickup is None else pd.Timestamp(newest_pickup) - allowed_lateness


def training_window(default: tuple[pd.Timestamp, pd.Timestamp], start: date | None,
                    end: date | None) -> Window:
    """The settings' window where given; a start alone keeps the default window's length."""
    default_start, default_end = default
    start_at = pd.Timestamp(start) if start else default_start
    if end:
        return Window(start_at, pd.Timestamp(end))
    return Window(start_at, start_at + (default_end - default_start) if start else default_end)


def scored_at_now() -> pd.Timestamp:
    """Wall-clock time of a write, naive UTC like every timestamp in the tables."""
    return pd.Timestamp.now("UTC").tz_localize(None)
