"""champion_alias: promote the Challenger only when it beats the Champion by more than noise."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from fare_assets.backends import open_target
from fare_assets.backends.interfaces import CHAMPION, FEATURE_TABLE
from fare_assets.ml.evaluation import decide_champion
from fare_assets.ml.features import predict_features
from fare_assets.ml.schema import LABEL, PICKUP_TIME
from fare_assets.tasks.common import holdout_slice, rounded
from fare_assets.tasks.compute_baseline import write_baseline
from fare_assets.tasks.pipes import open_task_pipes, param, run_task, task_settings

# A kept Champion's new baseline: the window's newest week, at least a week of whole days as a
# baseline needs for its volume and its day-of-week strata (fare_assets/ml/drift.py build_baseline).
REBASELINE_DAYS = 7


def main() -> None:
    with open_task_pipes() as context:
        settings = task_settings(context)
        target = open_target(settings)
        registry = target.registry()
        challenger_version = int(param(context, "challenger_version"))
        # An unreadable registry raises here: only "no such alias" means there is no Champion.
        champion_version = registry.alias_version(CHAMPION)
        store = target.table_store()
        _, holdout = holdout_slice(store.read(FEATURE_TABLE))
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
        rebaselined = {}
        if champion is not None and not decision.promote and param(context, "last_retrain_of_shift", False):
            rebaselined = rebaseline_kept_champion(context, store, registry, champion_version,
                                                   holdout[PICKUP_TIME].max(), param(context, "shift_start", ""))
        summary = {k: rounded(v) for k, v in decision.as_dict().items()}
        if not already_champion:  # its tags keep the decision that made it Champion
            registry.tag_version(challenger_version, {f"champion_decision_{k}": v for k, v in summary.items() if v is not None})
        context.report_asset_materialization(
            metadata={
                "champion_version": champion_version,
                "challenger_version": challenger_version,
                "promoted": decision.promote,
                **{k: v for k, v in summary.items() if k != "promote" and v is not None},
                **rebaselined,
            },
            data_version=str(champion_version),
        )


def rebaseline_kept_champion(context, store, registry, version: int, newest: pd.Timestamp, shift_start: str) -> dict:
    """The shift's last retraining run kept the Champion: no Challenger trained on the new data beat
    it, and the drift sensor will not retrain for this shift again. Left as it is, the Champion's
    baseline still describes the old regime, and every later window fires against it and is
    refused (measured: 6 alarms in 6 weeks after the 2019 demand collapse). So its baseline is made
    anew from its predictions on the window's newest week, trips it was not fitted on, and
    monitoring judges the next windows against the new normal. With less than a week after its
    training window, the old baseline stays, and the metadata says why."""
    # The window's newest whole days: its start can hold days from before the shift (a shift starts
    # at the first firing window's start, not at the hour things changed).
    end = newest.normalize() + pd.Timedelta(days=1)
    since = end - pd.Timedelta(days=REBASELINE_DAYS)
    trained_until = registry.version_tags(version).get("train_end")
    if trained_until is not None and pd.Timestamp(trained_until) > since:
        days = max(end - pd.Timestamp(trained_until), pd.Timedelta(0)) / pd.Timedelta(days=1)
        reason = (f"kept its baseline: the window holds {days:g} days after its training window, "
                  f"fewer than {REBASELINE_DAYS}")
        context.log.warning(f"Champion v{version} {reason}")
        return {"champion_baseline": reason}
    trips = store.read(FEATURE_TABLE, filters=[(PICKUP_TIME, ">=", since)])
    profile, _ = write_baseline(store, version, trips, predict_features(registry.load_version(version), trips))
    span = f"{trips[PICKUP_TIME].min():%Y-%m-%d}..{trips[PICKUP_TIME].max():%Y-%m-%d}"
    registry.tag_version(version, {"baseline_remade_on": span, "baseline_remade_after_shift": shift_start})
    context.log.info(f"Champion v{version} kept through the shift's last retraining run: its baseline is made anew "
                     f"on {len(trips):,} post-shift trips ({span}), MAE ${profile['mae']:.2f}")
    return {"champion_baseline": f"made anew on {len(trips):,} trips of {span} (the shift's retraining runs are spent)",
            "champion_baseline_mae": rounded(profile["mae"])}


if __name__ == "__main__":
    run_task(main)
