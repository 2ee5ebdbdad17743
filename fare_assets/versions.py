"""Versions that let Dagster (and our training task) see what changed: a hash of a table's content
(its data version) and a hash of the code that turns it into a model (the code version). Same data,
same code, same settings: the registered version is reused instead of registering an identical one.
Pure stdlib, so both the Dagster side and a task can compute them."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# The code a model version depends on: its features, its search, and the task that logs it.
# Paths from the package folder; the meter line is a module beside it (fare_meter.py says why).
TRAINING_CODE = ("ml/features.py", "ml/schema.py", "../fare_meter.py", "ml/training.py", "tasks/train_model.py")


def code_version(files: tuple[str, ...] = TRAINING_CODE) -> str:
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes())
    return digest.hexdigest()[:16]


def content_version(frame) -> str:
    """A hash of a pandas frame's columns and values (row order included)."""
    import pandas as pd

    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


TRAINING_CODE_VERSION = code_version()
