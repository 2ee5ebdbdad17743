"""Read data time (clock.ScoringHistory) from a target's tables: small reads of three tables."""

from __future__ import annotations

import pandas as pd

from fare_assets.backends.interfaces import FEATURE_TABLE, MONITORING_TABLE, WATERMARK_TABLE, TableStore
from fare_assets.clock import ScoringHistory, Window


def read_history(store: TableStore) -> ScoringHistory:
    scored = store.read(WATERMARK_TABLE, columns=["window_start", "window_end"])
    features = store.read(FEATURE_TABLE, columns=["window_end"]) if scored is None or scored.empty else None
    monitored = store.read(MONITORING_TABLE, columns=["window_end"])
    return ScoringHistory(
        training_end=pd.Timestamp(features["window_end"].iloc[0]) if features is not None and len(features) else None,
        scored=tuple(Window(pd.Timestamp(s), pd.Timestamp(e))
                     for s, e in zip(scored["window_start"], scored["window_end"])) if scored is not None else (),
        monitored_ends=tuple(pd.Timestamp(e) for e in monitored["window_end"]) if monitored is not None else (),
    )
