"""`fare-assets replay`: travel through the trips source one batch window at a time.

Each step runs the real jobs on the persistent instance: batch_inference_job, then
monitoring_job once at least MONITOR_WINDOW of data time has been scored since the last
monitoring window (so after every step when MONITOR_WINDOW <= BATCH_WINDOW), then one tick of
the real drift sensor; every run it requests is executed as training_job, tagged as the sensor
daemon would tag it (so a running daemon never launches the same request again).
Data time (the watermark, whether monitoring is due) follows fare_assets.clock over the tables,
the same rules the tasks use; what each step did is read from the runs' materializations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import pandas as pd
from dagster import DagsterRunStatus, RunsFilter, build_sensor_context
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from fare_assets.backends import open_target
from fare_assets.backends.history import read_history
from fare_assets.backends.interfaces import CHAMPION
from fare_assets.clock import monitoring_due
from fare_assets.definitions import build_definitions
from fare_assets.home import check_home
from fare_assets.instance import open_instance
from fare_assets.resources.spare_interpreters import SPARES
from fare_assets.settings import Settings

REPLAY_TAGS = {"fare_assets/replay": "true"}
CURSOR_KEY = "fare_assets/replay/drift_sensor_cursor"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class ReplayError(RuntimeError):
    """A job failed during the replay; the message carries the step's own error."""


@dataclass
class Step:
    window_start: str
    window_end: str
    rows: int
    mae: float | None
    monitored: bool
    monitoring_status: str | None
    should_retrain: bool
    fired: list[str]
    champion_version: int | None
    retrained: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    sensor_skipped: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class Replay:
    stopped_because: str | None = None
    last_status: str | None = None

    def __init__(self, settings: Settings):
        check_home(settings, claim=True)
        self.settings = settings
        self.defs = build_definitions(settings)
        self.instance = open_instance(settings)
        self.sensor = self.defs.resolve_sensor_def("drift_sensor")
        target = open_target(settings)
        self.registry, self.store = target.registry(), target.table_store()

    # ---- where data time stands -----------------------------------------------------------
    def watermark(self) -> pd.Timestamp | None:
        return read_history(self.store).watermark

    def champion_version(self) -> int | None:
        return self.registry.alias_version(CHAMPION)

    def monitoring_due(self) -> bool:
        return monitoring_due(read_history(self.store), self.settings.monitor_window)

    # ---- running jobs ---------------------------------------------------------------------
    def run_job(self, name: str, run_config: dict | None = None, tags: dict | None = None):
        result = self.defs.resolve_job_def(name).execute_in_process(
            instance=self.instance, run_config={**(run_config or {}), **QUIET},
            tags={**REPLAY_TAGS, **(tags or {})}, raise_on_error=False)
        if not result.success:
            failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            reason = failures[0].event_specific_data.error.message.strip() if failures else "see the run's logs"
            raise ReplayError(f"{name} failed (run {result.run_id}): {reason}")
        return {node: {k: v.value for k, v in m.metadata.items()}
                for node in ("feature_table", "model_version", "champion_alias", "serving_endpoint",
                             "predictions", "model_monitoring")
                for m in result.asset_materializations_for_node(node)}

    def train(self, run_config: dict | None = None, tags: dict | None = None) -> dict:
        started = time.monotonic()
        out = self.run_job("training_job", run_config, tags)
        features, decision = out["feature_table"], out["champion_alias"]
        return {
            "train_start": str(features["window_start"]), "train_end": str(features["window_end"]),
            "rows": int(features["rows"]), "shift_start": features.get("shift_start"),
            "version": int(out["model_version"]["version"]), "reused": bool(out["model_version"].get("reused")),
            "promoted": bool(decision["promoted"]), "champion_version": int(decision["champion_version"]),
            "decision": decision.get("reason"), "challenger_mae": decision.get("challenger_mae"),
            "champion_mae": decision.get("champion_mae"),
            "served_version": int(out["serving_endpoint"]["served_version"]),
            "seconds": round(time.monotonic() - started, 1),
        }

    def ensure_champion(self) -> dict | None:
        """A replay scores with the Champion: train one on the settings' window if there is none."""
        return None if self.champion_version() is not None else self.train()

    def tick_sensor(self) -> tuple[list[dict], str | None]:
        """One evaluation of the drift sensor (its cursor is kept in the instance between replays):
        the trainings it asked for, and why it asked for none when a result fired."""
        cursor = self.instance.run_storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
        tick = self.sensor.evaluate_tick(build_sensor_context(
            instance=self.instance, cursor=cursor, definitions=self.defs, sensor_name=self.sensor.name))
        trained = []
        for request in tick.run_requests or []:
            if self.already_ran(request.run_key):
                continue
            tags = {**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: self.sensor.name}
            trained.append({"run_key": request.run_key, **self.train(request.run_config, tags)})
        if tick.cursor is not None and tick.cursor != cursor:
            self.instance.run_storage.set_cursor_values({CURSOR_KEY: tick.cursor})
        return trained, tick.skip_message

    def already_ran(self, run_key: str) -> bool:
        return bool(self.instance.get_run_ids(RunsFilter(
            tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: self.sensor.name}, statuses=[DagsterRunStatus.SUCCESS])))

    # ---- the steps ------------------------------------------------------------------------
    def planned_steps(self, until: pd.Timestamp) -> int:
        watermark = self.watermark()
        return max(0, (until - watermark) // self.settings.batch_window) if watermark is not None else 0

    def steps(self, until: pd.Timestamp) -> Iterator[Step]:
        """Step while the next window ends by `until`: a replay never scores past its bound."""
        self.stopped_because = None
        with SPARES.runs_will_follow():  # each run's last task leaves an interpreter ready for the next run
            while (watermark := self.watermark()) is not None and watermark + self.settings.batch_window <= until:
                step = self.step(watermark)
                if step is None:
                    self.stopped_because = self.last_status or "the source has no complete window after the watermark"
                    return
                yield step
        if watermark is None:
            self.stopped_because = "no watermark: nothing has been trained in this home"

    def step(self, watermark: pd.Timestamp) -> Step | None:
        started = time.monotonic()
        scored = self.run_job("batch_inference_job")["predictions"]
        end = pd.Timestamp(scored["watermark"])
        if end <= watermark:
            self.last_status = scored.get("status")
            return None
        monitored = self.run_job("monitoring_job")["model_monitoring"] if self.monitoring_due() else None
        retrained, sensor_skipped = self.tick_sensor()
        mae = scored.get("batch_mae")
        return Step(
            window_start=str(scored["window_start"]), window_end=str(scored["window_end"]),
            rows=int(scored["rows"]), mae=float(mae) if isinstance(mae, (int, float)) else None,
            monitored=monitored is not None,
            monitoring_status=monitored["status"] if monitored else None,
            should_retrain=bool(monitored and monitored["should_retrain"]),
            fired=list(monitored["fired"]) if monitored else [],
            champion_version=self.champion_version(), retrained=retrained,
            seconds=round(time.monotonic() - started, 2),
            sensor_skipped=sensor_skipped if monitored and monitored["should_retrain"] else None,
        )
