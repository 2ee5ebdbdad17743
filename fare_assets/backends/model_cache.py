"""Registered versions kept as pickles beside the local registry, so that a task loads one in a
fraction of a second instead of about 5 s: MLflow's sklearn loader imports MLflow (~1.3 s here) and
skops, whose import walks every scikit-learn module to list the types it trusts (~2.9 s here).

An entry is written only after the version loaded through MLflow (with skops' checks) succeeded,
into the same home as the registry and its artifacts, and it names the sha256 of the version's
model file and the scikit-learn it was pickled with. An entry whose model file changed or vanished,
or that another scikit-learn wrote, is ignored: loading then behaves exactly as without the cache.
Unlike the skops file, a pickle runs code when loaded; its files are the user's own (mode 0600, in
the home beside the registry), so whoever could change them could as well change the project's code.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path


def sklearn_model_file(folder: Path) -> Path | None:
    """The serialized estimator of an MLflow sklearn model folder, named by its MLmodel file; None
    when the folder is not one (the caller then loads through MLflow, which says what is wrong)."""
    import yaml

    try:
        model_file = folder / yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["sklearn"]["pickled_model"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return model_file if model_file.is_file() else None


def file_digest(path: Path) -> str:
    with open(path, "rb") as model_file:
        return hashlib.file_digest(model_file, "sha256").hexdigest()


def _sklearn_version() -> str:
    from importlib.metadata import version

    return version("scikit-learn")


class ModelCache:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _paths(self, model_name: str, version: int) -> tuple[Path, Path]:
        stem = self.folder / model_name / str(version)
        return stem.with_suffix(".pkl"), stem.with_suffix(".json")

    def get(self, model_name: str, version: int, model_file: Path):
        pickled, about = self._paths(model_name, version)
        try:
            entry = json.loads(about.read_text())
            if entry != {"model_file_sha256": file_digest(model_file), "scikit_learn": _sklearn_version()}:
                return None
            with open(pickled, "rb") as cached:
                return pickle.load(cached)  # noqa: S301 - written by put() below, after skops loaded it
        except Exception:  # noqa: BLE001 - a missing, partial or unreadable entry means: load through MLflow
            return None

    def load(self, model_name: str, version: int, model_file: Path, load_through_mlflow: Callable[[], object]):
        """The cached estimator, else `load_through_mlflow()`, then kept for the next load."""
        model = self.get(model_name, version, model_file)
        if model is None:
            model = load_through_mlflow()
            self.put(model_name, version, model_file, model)
        return model

    def put(self, model_name: str, version: int, model_file: Path, model) -> None:
        """Best effort: a home we cannot write to still loads every version through MLflow."""
        pickled, about = self._paths(model_name, version)
        entry = {"model_file_sha256": file_digest(model_file), "scikit_learn": _sklearn_version()}
        try:
            pickled.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(pickled, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
            _write_atomically(about, json.dumps(entry).encode())
        except OSError:
            pass


def _write_atomically(path: Path, content: bytes) -> None:
    """Two tasks may cache the same version at once: each writes its own file, then renames it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
