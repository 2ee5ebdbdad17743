"""$FARE_ASSETS_HOME: checked once at the start of every command, and bound to the data it was
built from. A home records its target, source, scenario, catalog, schema and model name the
first time it is used; a later run with different ones fails at once instead of mixing datasets
(a 2016 watermark with 2019 trips, a Champion trained on another source)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fare_assets.settings import Settings, SettingsError

IDENTITY_FILE = "home.json"
RESET_COMMAND = "uv run fare-assets reset --yes"


class HomeError(SettingsError):
    """The home cannot be used as it is; the message names the path and the way out."""


def identity(settings: Settings) -> dict[str, str]:
    source = settings.source
    if source != "synthetic" and not source.startswith("tlc:"):
        # The same files named from another folder are the same source.
        source = ",".join(os.path.abspath(p) for p in source.removeprefix("files:").split(",") if p)
    return {"target": settings.target, "source": source, "scenario": settings.scenario,
            "catalog": settings.catalog, "schema": settings.schema, "model_name": settings.model_name}


def recorded_identity(settings: Settings) -> dict[str, str] | None:
    path = settings.home / IDENTITY_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise HomeError(f"{path} cannot be read ({error}): {_way_out(settings)}") from None


def check_home(settings: Settings, *, claim: bool) -> None:
    """Fail if the home was built from other data; with `claim`, also make sure it is writable and
    record this identity if it is the home's first use. Without `claim` nothing is created."""
    if settings.home.exists() and not settings.home.is_dir():
        raise HomeError(f"FARE_ASSETS_HOME={settings.home} is a file, not a folder: "
                        "set FARE_ASSETS_HOME to a folder (it is created if missing)")
    recorded, current = recorded_identity(settings), identity(settings)
    if recorded is not None:
        differences = [f"{key} {recorded.get(key)!r} (now {value!r})"
                       for key, value in current.items() if recorded.get(key, "") != value]
        if differences:
            raise HomeError(f"FARE_ASSETS_HOME={settings.home} was built from other data: "
                            f"{'; '.join(differences)}. {_way_out(settings)}")
    if claim:
        _check_writable(settings.home)
        if recorded is None:
            temporary = settings.home / f".{IDENTITY_FILE}.{os.getpid()}"
            temporary.write_text(json.dumps(current, indent=2) + "\n")
            temporary.replace(settings.home / IDENTITY_FILE)


def _check_writable(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HomeError(f"FARE_ASSETS_HOME={home} cannot be created: {error.strerror}; "
                        "set FARE_ASSETS_HOME to a folder you can write to") from None
    probe = home / f".write_check.{os.getpid()}"
    try:  # os.access cannot see a read-only file system for root: write for real
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise HomeError(f"FARE_ASSETS_HOME={home} is not writable ({error.strerror}); "
                        "set FARE_ASSETS_HOME to a folder you can write to") from None


def _way_out(settings: Settings) -> str:
    return (f"Use another home for this data (FARE_ASSETS_HOME=<new folder>), or start this one over with "
            f"`{RESET_COMMAND}` (stops its endpoint, deletes its models, tables and run history).")


def reset_home(settings: Settings) -> bool:
    """Delete the home (after stopping its endpoint); return whether there was one."""
    if not settings.home.exists():
        return False
    if settings.home == Path.cwd() or settings.home in Path.cwd().parents or settings.home == Path.home():
        raise HomeError(f"refusing to delete {settings.home}: it contains the current folder or is your home folder")
    from fare_assets.serving.manager import LocalEndpoint

    LocalEndpoint.from_settings(settings).stop()
    shutil.rmtree(settings.home)
    return True
