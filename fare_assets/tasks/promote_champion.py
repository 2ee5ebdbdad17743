"""champion_alias: promote the Challenger only when it beats the Champion by more than noise."""

from __future__ import annotations

from dataclasses import replace

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import CHAMPION, FEATURE_TABLE
from fare_assets.ml.evaluation import decide_champion
from fare_assets.ml.features import predict_features
from fare_assets.ml.schema import LABEL
from fare_assets.tasks.common import holdout_slice, rounded
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        target = open_target(settings)
        registry = target.registry()
        challenger_version = int(param(context, "challenger_version"))
        # An unreadable registry raises here: only "no such alias" means there is no Champion.
        champion_version = registry.alias_version(CHAMPION)
        _, holdout = holdout_slice(target.table_store().read(FEATURE_TABLE))
        context.log.info(f"judging Challenger v{challenger_version} against "
                         f"{f'Champion v{champion_version}' if champion_version else 'no Champion'} "
                         f"on {len(holdout):,} held-out trips")
        actual = holdout[LABEL].to_numpy()
        # Load both before touching any alias: a failure here leaves the Champion as it was. Each
        # gets the inputs it takes: a six-field Champion can be judged against a location Challenger.
        challenger = predict_features(registry.load_version(challenger_version), holdout)
        champion = None
        if champion_version is not None and champion_version != challenger_version:
            champion = predict_features(registry.load_version(champion_version), holdout)
        decision = decide_champion(actual, challenger, champion)
        already_champion = champion_version == challenger_version
        if already_champion:
            decision = replace(decision, promote=False, reason=f"version {challenger_version} is already the Champion")
        if decision.promote:
            registry.set_alias(CHAMPION, challenger_version)
            champion_version = challenger_version
        context.log.info(f"{'promoted' if decision.promote else 'kept the Champion'}: {decision.reason}; "
                         f"Champion is v{champion_version}")
        summary = {k: rounded(v) for k, v in decision.as_dict().items()}
        if not already_champion:  # its tags keep the decision that made it Champion
            registry.tag_version(challenger_version, {f"champion_decision_{k}": v for k, v in summary.items() if v is not None})
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
    run_task(main)
