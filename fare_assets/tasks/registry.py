"""The MLflow registry as tasks and the CLI use it: versions, aliases, tags, model loading."""

from __future__ import annotations

import time

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from fare_assets.settings import Settings

CHAMPION = "Champion"
CHALLENGER = "Challenger"
EXPERIMENT = "fare_assets"
LOAD_ATTEMPTS = 4


def connect(settings: Settings) -> MlflowClient:
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)
    if settings.target == "local":
        settings.home.mkdir(parents=True, exist_ok=True)
        if mlflow.get_experiment_by_name(EXPERIMENT) is None:
            mlflow.create_experiment(EXPERIMENT, artifact_location=settings.artifact_location)
        mlflow.set_experiment(EXPERIMENT)
    else:
        mlflow.set_experiment(f"/Shared/fare_assets/{settings.registered_model_name}")
    return MlflowClient(settings.tracking_uri, settings.registry_uri)


def alias_version(client: MlflowClient, model: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def load_version(model: str, version: int, sleep=time.sleep):
    """Load a registered version, retrying with backoff: a fresh registration's artifacts can
    lag its record (cold start on remote stores); the last error is raised with the version named."""
    import mlflow.sklearn

    delay = 0.5
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            return mlflow.sklearn.load_model(f"models:/{model}/{version}")
        except Exception as error:  # noqa: BLE001 - any load failure is retried, then named
            if attempt == LOAD_ATTEMPTS:
                raise RuntimeError(
                    f"could not load {model} version {version} after {attempt} attempts: {error}"
                ) from error
            sleep(delay)
            delay *= 2


def tag_version(client: MlflowClient, model: str, version: int, tags: dict) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model, str(version), key, str(value))
