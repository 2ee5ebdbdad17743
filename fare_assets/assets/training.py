"""Training stage: feature_table -> model_version -> training_baseline."""


from dagster import AssetExecutionContext, AssetKey, Config, asset
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from fare_assets.resources.task_runner import TaskRunner
from fare_assets.versions import TRAINING_CODE_VERSION


class TrainingWindowConfig(Config):
    """Override the training window (ISO dates, end exclusive); empty means the settings' window.
    With min_rows, a window holding fewer clean trips reaches back day by day until it holds that
    many (at most FARE_ASSETS_RETRAIN_DAYS before its end); shift_start records when the drift
    that asked for this window began."""

    train_start: str = ""
    train_end: str = ""
    min_rows: int = 0
    shift_start: str = ""


@asset(deps=["trips"], group_name="training", kinds={"delta", "python"})
def feature_table(context: AssetExecutionContext, config: TrainingWindowConfig, task_runner: TaskRunner):
    """The training window's trips, cleaned and turned into the six model features (Delta table)."""
    return task_runner.run(context, "build_features", config.model_dump())


@asset(deps=[feature_table], group_name="training", kinds={"mlflow", "scikitlearn"},
       code_version=TRAINING_CODE_VERSION)
def model_version(context: AssetExecutionContext, task_runner: TaskRunner):
    """A registered model version from a time-ordered hyperparameter search, aliased Challenger
    (reused when the feature table and the training code are unchanged)."""
    return task_runner.run(context, "train_model", {
        "feature_data_version": feature_data_version(context), "code_version": TRAINING_CODE_VERSION})


@asset(deps=[feature_table, model_version], group_name="training", kinds={"delta"})
def training_baseline(context: AssetExecutionContext, task_runner: TaskRunner):
    """Feature and held-out prediction statistics of the newest model version, for drift monitoring."""
    return task_runner.run(context, "compute_baseline", {"model_version": latest_version(context)})


def feature_data_version(context: AssetExecutionContext) -> str | None:
    event = context.instance.get_latest_materialization_event(AssetKey("feature_table"))
    return event.asset_materialization.tags.get(DATA_VERSION_TAG) if event and event.asset_materialization else None


def latest_version(context: AssetExecutionContext) -> int:
    event = context.instance.get_latest_materialization_event(AssetKey("model_version"))
    if event is None or event.asset_materialization is None:
        raise RuntimeError("model_version has never been materialized: run the training job")
    return int(event.asset_materialization.metadata["version"].value)
