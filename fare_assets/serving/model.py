"""One registered model version, loaded once, warmed and verified before it may serve.

The endpoint is always told an explicit version number: this module never resolves an alias.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import orjson

from fare_assets.backends.model_cache import ModelCache, sklearn_model_file
from fare_assets.serving.contract import Contract

WARMUP_CALLS = 50


class ModelRejected(RuntimeError):
    """The version could not be loaded or failed verification; the message says why."""


@dataclass(frozen=True)
class ServedModel:
    model_name: str
    version: int
    model: object
    contract: Contract
    load_seconds: float
    verify: dict = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(X), dtype=np.float64).reshape(-1)


def load_version(model_name: str, version: int, source: str | None = None, *,
                 tracking_uri: str, registry_uri: str, cache: ModelCache | None = None) -> ServedModel:
    """Load a version from its artifact `source` (resolved by the deployer from the registry, so
    a start needs no registry round trip), derive the contract from its signature, warm, verify.
    The estimator comes from the tasks' model cache when they loaded this version already (skops'
    import alone costs about 3 s of a start)."""
    started = time.perf_counter()
    try:
        model, columns, optional = _load(source or f"models:/{model_name}/{version}", tracking_uri, registry_uri,
                                         cache, model_name, version)
        contract = Contract(columns, optional)
    except Exception as error:  # noqa: BLE001 - every load failure is reported with its cause
        raise ModelRejected(f"could not load {model_name} version {version}: {type(error).__name__}: {error}") from error
    served = ServedModel(model_name, version, model, contract, time.perf_counter() - started)
    return replace(served, verify=verify(served))


def _load(uri: str, tracking_uri: str, registry_uri: str, cache: ModelCache | None, model_name: str, version: int):
    import mlflow
    import mlflow.sklearn
    from mlflow.models import Model

    with tempfile.TemporaryDirectory(prefix="fare-assets-model-") as scratch:
        if uri.startswith("file://"):
            path = unquote(urlsplit(uri).path)  # a local artifact store: load in place, no copy
        else:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(registry_uri)
            path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)
        signature = Model.load(path).signature
        if signature is None or signature.inputs is None:
            raise ValueError("it has no input signature, so requests cannot be validated against it")
        columns = list(signature.inputs.input_names())
        optional = signature.inputs.optional_input_names()
        model_file = sklearn_model_file(Path(path))
        if cache is not None and model_file is not None:
            model = cache.load(model_name, version, model_file, lambda: mlflow.sklearn.load_model(path))
        else:
            model = mlflow.sklearn.load_model(path)
    fitted_names = getattr(model, "feature_names_in_", None)
    if fitted_names is not None:
        if sorted(fitted_names) != sorted(columns):
            raise ValueError(f"it was fitted on {list(fitted_names)} but its signature names {columns}")
        # Feed columns in the order the estimator was fitted in; we build arrays, not frames,
        # because a frame costs more than the prediction itself for a single row.
        columns = list(fitted_names)
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
    return model, columns, optional


def verification_rows(contract: Contract) -> list[dict]:
    """Rows at both ends and the middle of every range, and one without the optional fields: a
    model must answer all of them."""
    low, high = contract.low, contract.high
    middle = np.where(contract.integer, np.floor((low + high) / 2), (low + high) / 2)
    rows = [
        {c: (int(v) if contract.integer[j] else float(v)) for j, (c, v) in enumerate(zip(contract.columns, row))}
        for row in (low, middle, high, np.where(contract.integer, low, np.minimum(high, 3.5)))
    ]
    if contract.optional:
        rows.append({c: v for c, v in rows[1].items() if c not in contract.optional})
    return rows


def verification_body(contract: Contract) -> bytes:
    return orjson.dumps({"dataframe_records": verification_rows(contract)})


def verify(served: ServedModel) -> dict:
    """Run the full request path on verification rows, then warm the model with single rows."""
    rows = verification_rows(served.contract)
    started = time.perf_counter()
    try:
        predictions = served.predict(served.contract.parse(verification_body(served.contract)))
    except Exception as error:  # noqa: BLE001 - a model that cannot predict is rejected with the cause
        raise ModelRejected(
            f"{served.model_name} version {served.version} failed verification: {type(error).__name__}: {error}"
        ) from error
    latency_ms = (time.perf_counter() - started) * 1000
    if predictions.shape != (len(rows),) or not all(math.isfinite(p) for p in predictions):
        raise ModelRejected(
            f"{served.model_name} version {served.version} failed verification: expected {len(rows)} finite "
            f"predictions, got {predictions.tolist()}"
        )
    single = served.contract.matrix([list(rows[1].values())])
    for _ in range(WARMUP_CALLS):
        served.predict(single)
    return {"rows": len(rows), "latency_ms": round(latency_ms, 3), "predictions": predictions.tolist()}
