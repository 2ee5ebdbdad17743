"""model_version: search, fit, log to MLflow, register a new version with alias Challenger."""

from __future__ import annotations

import logging
import warnings

import pandas as pd

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import CHALLENGER
from fare_assets.ml.features import predict_features
from fare_assets.ml.schema import LABEL, LOCATION_COLUMNS
from fare_assets.tasks.common import as_json, training_data
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings

# Nothing here a user can act on: MLflow hints that integer inputs cannot hold missing values (the
# endpoint validates the contract's integer fields itself), it cannot find pip in a uv environment
# (the model's requirements are given explicitly: model_requirements), and it predicts the input
# example as a frame, where the model was fitted on arrays in contract order (so it warns of names).
warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column", category=UserWarning)
warnings.filterwarnings("ignore", message="X has feature names, but", category=UserWarning)
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
TRAINING_KEY_TAG = "training_key"


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        target = open_target(settings)
        registry = target.registry()
        # Decided before MLflow is imported or the table read: an unchanged pair costs neither.
        key = training_key(param(context, "feature_data_version"), param(context, "code_version"), settings)
        if key and (reused := max(registry.versions_tagged(TRAINING_KEY_TAG, key), default=None)) is not None:
            report_reuse(context, registry, reused, key)
            return
        import mlflow
        import mlflow.sklearn

        from fare_assets.ml.evaluation import regression_metrics
        from fare_assets.ml.training import IGNORED_FEATURES, SKOPS_TRUSTED_TYPES, search_model

        registry.connect()
        data = training_data(target.table_store(), settings.with_locations,
                             lambda fit_rows: learns_locations(settings, fit_rows))
        columns, holdout, fit_count, locations = data.columns, data.holdout, len(data.y), data.locations
        context.log.info(f"training on {fit_count:,} trips, judging on the newest {len(holdout):,}"
                         f"{', with pickup and dropoff zones' if locations else ''}")
        window_start, window_end = data.window
        with mlflow.start_run(run_name=f"train {window_start:%Y-%m-%d}..{window_end:%Y-%m-%d}") as run:
            search = search_model(
                data.X, data.y, columns,
                on_trial=lambda i, n, trial: context.log.info(
                    f"search trial {i}/{n}: validation MAE ${trial['val_mae']:.3f} with {trial['params']}"))
            for i, trial in enumerate(search.trials):
                with mlflow.start_run(run_name=f"trial {i}", nested=True):
                    mlflow.log_params(trial["params"])
                    mlflow.log_metrics({k: v for k, v in trial.items() if k.startswith("val_")})
            predictions = predict_features(search.model, holdout)
            metrics = regression_metrics(holdout[LABEL].to_numpy(), predictions)
            if locations:  # the path a request without location fields takes
                metrics_without = regression_metrics(
                    holdout[LABEL].to_numpy(), predict_features(search.model, holdout.drop(columns=list(LOCATION_COLUMNS))))
                mlflow.log_metrics({f"holdout_{k}_without_locations": v for k, v in metrics_without.items()})
            mlflow.log_params({**search.params, "train_start": str(window_start), "train_end": str(window_end),
                               "rows_fit": fit_count, "rows_holdout": len(holdout),
                               "search_rows": search.search_rows, "location_features": locations,
                               "ignored_features": ",".join(sorted(IGNORED_FEATURES))})
            mlflow.log_metrics({**{f"holdout_{k}": v for k, v in metrics.items()}, "search_seconds": search.seconds})
            example = holdout[columns].head(5)
            info = mlflow.sklearn.log_model(
                search.model, name="model",
                signature=request_signature(example, pd.Series(predictions[:5], name="prediction"),
                                            optional_locations=settings.target == "local"),
                input_example=example,
                registered_model_name=settings.registered_model_name,
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
                # What the model needs to load, not the whole project (MLflow would otherwise
                # export all of uv.lock, Dagster included, into the serving environment).
                pip_requirements=model_requirements(),
                code_paths=model_code_paths(),
            )
        version = int(info.registered_model_version)
        registry.set_alias(CHALLENGER, version)
        context.log.info(f"registered {settings.registered_model_name} version {version} as {CHALLENGER}: "
                         f"holdout MAE ${metrics['mae']:.3f}")
        registry.tag_version(version, {"train_start": window_start, "train_end": window_end,
                                       "holdout_mae": round(metrics["mae"], 4),
                                       **({TRAINING_KEY_TAG: key} if key else {})})
        context.report_asset_materialization(
            metadata={
                "version": version,
                "reused": False,
                "registered_model": settings.registered_model_name,
                "run_id": run.info.run_id,
                **{f"holdout_{k}": round(v, 4) for k, v in metrics.items()},
                "search_seconds": round(search.seconds, 2),
                "location_features": locations,
                **({"holdout_mae_without_locations": round(metrics_without["mae"], 4)} if locations else {}),
                "best_params": as_json(search.params),
                "mlflow_run": {"raw_value": registry.run_link(run.info.experiment_id, run.info.run_id), "type": "url"},
            },
            data_version=str(version),
        )


def learns_locations(settings, fit_rows: pd.DataFrame) -> bool:
    """Forced on or off by the setting; on auto, on where the window's trips carry zones (a file in
    Databricks' samples schema has zip codes, not zones)."""
    if settings.location_features is not None:
        return settings.location_features
    return settings.with_locations and bool(fit_rows[list(LOCATION_COLUMNS)].notna().to_numpy().any())


def request_signature(example: pd.DataFrame, prediction: pd.Series, optional_locations: bool):
    """The example's signature, with the location fields optional for the local endpoint, whose
    contract fills a missing one with NaN (the path the model learned from masked rows). Databricks
    Model Serving would drop a missing optional column instead, and the model needs every column,
    so there they stay required (see Settings.with_locations)."""
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    inferred = infer_signature(example, prediction)
    inputs = Schema([ColSpec(spec.type, spec.name, required=not (optional_locations and spec.name in LOCATION_COLUMNS))
                     for spec in inferred.inputs.inputs])
    return type(inferred)(inputs=inputs, outputs=inferred.outputs)


def training_key(data_version: str | None, code_version: str | None, settings) -> str | None:
    """What a model version is a function of: the feature table's content, the training code, and
    the one setting that changes the model's inputs."""
    if not data_version or not code_version:
        return None
    return f"data {data_version} code {code_version} locations {settings.location_features}"


def report_reuse(context, registry, version: int, key: str) -> None:
    if registry.alias_version(CHALLENGER) != version:
        registry.set_alias(CHALLENGER, version)
    context.log.info(f"reused version {version}: it was trained on the same feature table with the same code")
    tags = registry.version_tags(version)
    context.report_asset_materialization(
        metadata={
            "version": version, "registered_model": registry.model_name, "reused": True,
            "reused_because": f"{key}: unchanged since version {version}, so no identical version is registered",
            "holdout_mae": float(tags.get("holdout_mae", "nan")),
        },
        data_version=str(version),
    )


def model_code_paths() -> list[str]:
    """The code a registered model's pickle names beyond scikit-learn: the meter line around the
    trees (`fare_meter`, a top-level module for this reason), for `log_model(code_paths=...)`.
    Databricks Model Serving builds the model's container from what the model logged ("Package and
    code dependencies", https://docs.databricks.com/aws/en/machine-learning/model-serving/custom-models),
    so custom model code must travel with it; MLflow's `code_paths` "are *prepended* to the system
    path when the model is loaded" (mlflow/utils/docstring_utils.py; `_add_code_from_conf_to_system_path`
    in mlflow/utils/model_utils.py; https://mlflow.org/docs/3.3.0/ml/model/dependencies, "Saving
    Extra Code with an MLflow Model")."""
    import fare_meter

    return [fare_meter.__file__]


def model_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{package}=={version(package)}" for package in ("mlflow", "scikit-learn", "numpy", "pandas", "skops")]


if __name__ == "__main__":
    run_task(main)
