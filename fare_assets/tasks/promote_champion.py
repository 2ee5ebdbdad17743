"""champion_alias: promote the Challenger only when it beats the Champion by more than noise."""

from __future__ import annotations

from dataclasses import replace

from fare_assets.ml.evaluation import decide_champion
from fare_assets.ml.schema import LABEL
from fare_assets.tasks.common import FEATURE_TABLE, holdout_slice, model_inputs
from fare_assets.tasks.pipes import open_task_pipes, param, task_settings
from fare_assets.tasks.registry import CHAMPION, alias_version, connect, load_version, tag_version
from fare_assets.tasks.storage import open_table_store


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        name = settings.registered_model_name
        challenger_version = int(param(context, "challenger_version"))
        client = connect(settings)
        champion_version = alias_version(client, name, CHAMPION)
        _, holdout = holdout_slice(open_table_store(settings).read(FEATURE_TABLE))
        inputs, actual = model_inputs(holdout, settings), holdout[LABEL].to_numpy()
        # Load both before touching any alias: a failure here leaves the Champion as it was.
        challenger = load_version(name, challenger_version).predict(inputs)
        champion = None
        if champion_version is not None and champion_version != challenger_version:
            champion = load_version(name, champion_version).predict(inputs)
        decision = decide_champion(actual, challenger, champion)
        if champion_version == challenger_version:
            decision = replace(decision, promote=False, reason=f"version {challenger_version} is already the Champion")
        if decision.promote and champion_version != challenger_version:
            client.set_registered_model_alias(name, CHAMPION, str(challenger_version))
            champion_version = challenger_version
        summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in decision.as_dict().items()}
        tag_version(client, name, challenger_version,
                    {f"champion_decision_{k}": v for k, v in summary.items() if v is not None})
        context.report_asset_materialization(
            metadata={
                "champion_version": champion_version,
                "challenger_version": challenger_version,
                "promoted": decision.promote,
                **{k: v for k, v in summary.items() if k != "promote" and v is not None},
            },
            data_version=str(champion_version),
        )


if __name__ == "__main__":
    main()
