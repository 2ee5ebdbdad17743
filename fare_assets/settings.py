"""Typed settings from FARE_ASSETS_* environment variables, validated once at load time.

Pure Python (no Dagster import) so that Pipes tasks rebuild the same object from their params.
What the target implies (URIs, table names, backends) is decided in fare_assets.backends only.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path

TARGETS = ("local", "databricks")
DEFAULT_HOME = ".fare_assets"
DEFAULT_SERVING_PORT = 5088
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Ten years of data time: a longer window is a typo, and timedelta overflows past ~2.7 million days.
MAX_DURATION = timedelta(days=3660)


class SettingsError(ValueError):
    """A FARE_ASSETS_* variable holds a value we cannot use; the message names it."""


def parse_duration(name: str, raw: str) -> timedelta:
    match = _DURATION.match(raw)
    if not match or int(match.group(1)) == 0:
        raise SettingsError(
            f"{name}={raw!r} is not a duration: write a positive whole number followed by "
            "m, h or d, like 30m, 6h, 24h, 7d or 31d"
        )
    amount, unit = int(match.group(1)), _DURATION_UNITS[match.group(2)]
    if amount > MAX_DURATION / timedelta(**{unit: 1}):
        raise SettingsError(f"{name}={raw!r} is longer than {MAX_DURATION.days} days: write 30m .. {MAX_DURATION.days}d")
    return timedelta(**{unit: amount})


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise ValueError(f"{value} is not a whole number of minutes")


def _parse_date(name: str, raw: str | None) -> date | None:
    return _parse_iso(name, raw, date, "an ISO date: write YYYY-MM-DD")


def _parse_datetime(name: str, raw: str | None) -> datetime | None:
    return _parse_iso(name, raw, datetime, "an ISO date or date-time: write YYYY-MM-DD[THH:MM]")


def _parse_iso(name: str, raw: str | None, kind: type[date], form: str):
    if raw in (None, ""):
        return None
    try:
        return kind.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {form}") from None


def _parse_auto_bool(name: str, raw: str) -> bool | None:
    lowered = raw.strip().lower()
    if lowered in ("auto", ""):
        return None
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} must be auto, true or false")


def _parse_int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} must be a whole number from {low} to {high}")
    return value


def _host(name: str, raw: str) -> str:
    """An IP address or a DNS host name: caught here rather than when a deploy tries to bind it."""
    host = raw.strip()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if host and not labels[-1].isdigit() and all(_HOSTNAME_LABEL.match(label) for label in labels):
        return host
    raise SettingsError(f"{name}={raw!r} is neither an IP address (127.0.0.1, ::1) nor a host name (localhost)")


def _url(name: str, raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise SettingsError(f"{name}={raw!r} is not an http(s) URL, like http://127.0.0.1:5000")
    return url


def _databricks_environment(raw: str) -> str:
    from fare_assets.databricks.environment import DEFAULT_ENVIRONMENT_VERSION, ENVIRONMENTS  # stdlib only

    value = raw.strip() or DEFAULT_ENVIRONMENT_VERSION
    if value not in ENVIRONMENTS:
        raise SettingsError(f"FARE_ASSETS_DATABRICKS_ENVIRONMENT={raw!r} must be one of the serverless "
                            f"environment versions {', '.join(ENVIRONMENTS)}")
    return value


def _identifier(name: str, raw: str) -> str:
    if not _IDENTIFIER.match(raw):
        raise SettingsError(
            f"{name}={raw!r} must be a plain identifier (letters, digits, underscores)"
        )
    return raw


@dataclass(frozen=True)
class Settings:
    home: Path
    target: str = "local"
    catalog: str = "main"
    schema: str = "ml_serving"
    model_name: str = "fare_predictor"
    source: str = "synthetic"
    scenario: str = ""
    tlc_base_url: str = "https://d37ci6vzurychx.cloudfront.net/trip-data"
    train_start: date | None = None
    train_end: date | None = None
    batch_window: timedelta = timedelta(hours=6)
    monitor_window: timedelta = timedelta(hours=24)
    retrain_days: int = 60
    # A retraining after drift starts where the shift began and reaches back only as far as it
    # needs for this many clean trips; a shift costs at most `max_retrains_per_shift` runs. 1000, not
    # 2000: after a demand collapse a week holds few trips, and reaching back into the old regime
    # for more cost accuracy (benchmarks/shift_recovery.py, docs/drift_rules.md: 0.82 vs 0.89 of the
    # old Champion's MAE; the other scenarios unchanged).
    retrain_min_rows: int = 1000
    max_retrains_per_shift: int = 2
    # The newest time with complete data, for a table source: set by a loader that knows; else the
    # table's newest pickup less the lateness with which trips may still arrive.
    data_horizon: datetime | None = None
    allowed_lateness: timedelta = timedelta(hours=6)
    # None is "auto": learn from pickup and dropoff zones where the trips carry them (see
    # `with_locations`); True or False forces it.
    location_features: bool | None = None
    serving_host: str = "127.0.0.1"
    serving_port: int = DEFAULT_SERVING_PORT
    # Where the MLflow UI of the local target is served (`uv run mlflow ui ...`): run links point there.
    mlflow_ui: str = "http://127.0.0.1:5000"
    # Databricks target only (see the README's "Run on Databricks").
    volume: str = ""
    databricks_source_table: str = "samples.nyctaxi.trips"
    # The serverless environment version of the jobs; "" means the newest one documented
    # (fare_assets/databricks/environment.py lists each with its Python and base packages).
    databricks_environment: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = lambda key, default="": env.get(f"FARE_ASSETS_{key}", default)  # noqa: E731
        target = get("TARGET", "local").strip().lower()
        if target not in TARGETS:
            raise SettingsError(f"FARE_ASSETS_TARGET={target!r} must be one of: {', '.join(TARGETS)}")
        home = get("HOME", "") or DEFAULT_HOME
        settings = cls(
            home=Path(home).expanduser().resolve(),
            target=target,
            catalog=_identifier("FARE_ASSETS_CATALOG", get("CATALOG", "main")),
            schema=_identifier("FARE_ASSETS_SCHEMA", get("SCHEMA", "ml_serving")),
            model_name=_identifier("FARE_ASSETS_MODEL_NAME", get("MODEL_NAME", "fare_predictor")),
            source=get("SOURCE", "synthetic").strip() or "synthetic",
            scenario=get("SCENARIO", "").strip(),
            tlc_base_url=get("TLC_BASE_URL", cls.tlc_base_url).rstrip("/"),
            train_start=_parse_date("FARE_ASSETS_TRAIN_START", get("TRAIN_START") or None),
            train_end=_parse_date("FARE_ASSETS_TRAIN_END", get("TRAIN_END") or None),
            batch_window=parse_duration("FARE_ASSETS_BATCH_WINDOW", get("BATCH_WINDOW", "6h")),
            monitor_window=parse_duration("FARE_ASSETS_MONITOR_WINDOW", get("MONITOR_WINDOW", "24h")),
            data_horizon=_parse_datetime("FARE_ASSETS_DATA_HORIZON", get("DATA_HORIZON") or None),
            allowed_lateness=parse_duration("FARE_ASSETS_ALLOWED_LATENESS", get("ALLOWED_LATENESS", "6h")),
            retrain_days=_parse_int("FARE_ASSETS_RETRAIN_DAYS", get("RETRAIN_DAYS", "60"), 1, 3660),
            # Fewer than 100 trips cannot be split into a training set and a held-out fifth that
            # the validation can judge; past 10 million a window no longer fits one machine.
            retrain_min_rows=_parse_int("FARE_ASSETS_RETRAIN_MIN_ROWS", get("RETRAIN_MIN_ROWS", "1000"), 100, 10_000_000),
            max_retrains_per_shift=_parse_int(
                "FARE_ASSETS_MAX_RETRAINS_PER_SHIFT", get("MAX_RETRAINS_PER_SHIFT", "2"), 1, 100),
            location_features=_parse_auto_bool("FARE_ASSETS_LOCATION_FEATURES", get("LOCATION_FEATURES", "auto")),
            serving_host=_host("FARE_ASSETS_SERVING_HOST", get("SERVING_HOST", "127.0.0.1")),
            serving_port=_parse_int(
                "FARE_ASSETS_SERVING_PORT", get("SERVING_PORT", str(DEFAULT_SERVING_PORT)), 1, 65535
            ),
            mlflow_ui=_url("FARE_ASSETS_MLFLOW_UI", get("MLFLOW_UI", cls.mlflow_ui)),
            volume=get("VOLUME", "").rstrip("/"),
            databricks_source_table=get("DATABRICKS_SOURCE_TABLE", "samples.nyctaxi.trips"),
            databricks_environment=_databricks_environment(get("DATABRICKS_ENVIRONMENT", "")),
        )
        if settings.train_start and settings.train_end and settings.train_start >= settings.train_end:
            raise SettingsError(
                f"FARE_ASSETS_TRAIN_START={settings.train_start} must be before "
                f"FARE_ASSETS_TRAIN_END={settings.train_end} (the end is exclusive)"
            )
        return settings

    def to_env(self) -> dict[str, str]:
        """The FARE_ASSETS_* variables that rebuild these settings (secrets are never included)."""
        out = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, timedelta):
                value = format_duration(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif value is None:
                value = ""
            out[f"FARE_ASSETS_{field.name.upper()}"] = str(value)
        return out

    def with_training_window(self, start: date, end: date) -> Settings:
        return replace(self, train_start=start, train_end=end)

    # Names derived once, used by every resource and task.
    @property
    def registered_model_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.model_name}"

    @property
    def endpoint_name(self) -> str:
        return f"{self.schema}_{self.model_name}_endpoint"

    @property
    def local_mlflow_uri(self) -> str:
        """The home's sqlite tracking store and registry (the local target's MLflow)."""
        return f"sqlite:///{self.local_mlflow_db}"

    @property
    def local_mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def model_cache_dir(self) -> Path:
        """Registered versions the local target has loaded once (backends/model_cache.py)."""
        return self.home / "cache" / "models"

    @property
    def with_locations(self) -> bool:
        """Whether features carry the pickup and dropoff zones. Auto means yes on the local target
        (synthetic trips and TLC files have zones; training leaves them out when a window has none)
        and no on Databricks: Model Serving drops a request's missing optional columns before the
        model sees them (MLflow's `_enforce_named_col_schema`, mlflow/models/utils.py), so a
        location model there could not answer the exemplar's six-field request."""
        return self.location_features if self.location_features is not None else self.target == "local"

    @property
    def artifact_location(self) -> str:
        return (self.home / "mlartifacts").as_uri()

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def serving_dir(self) -> Path:
        return self.home / "serving"

    @property
    def serving_url(self) -> str:
        return f"http://{self.serving_host}:{self.serving_port}"

    @property
    def lakehouse(self) -> Path:
        return self.home / "lakehouse" / self.catalog / self.schema

    def describe(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def serving_token(env: Mapping[str, str] | None = None) -> str | None:
    """The optional bearer token; kept out of Settings so it never lands in params or metadata."""
    env = os.environ if env is None else env
    return env.get("FARE_ASSETS_SERVING_TOKEN") or None
