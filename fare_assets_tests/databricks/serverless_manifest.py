"""What the fake serverless compute knows about each environment version: the emulator's manifest.

The base packages, Python and Databricks Connect versions and the caching / UDF-library rules are
the documented facts of fare_assets/databricks/environment.py (each cited there); this adds what
only the emulator needs. Resolving a job's `environments[].spec` against it fails the run where
Databricks' installation would fail or break the image.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from fare_assets.databricks.environment import ENVIRONMENTS, ServerlessEnvironment, UnknownEnvironmentVersion

# The Spark confs a serverless notebook or job may set: "only the following Spark configuration
# parameters can be set manually: spark.sql.legacy.timeParserPolicy, spark.sql.session.timeZone,
# spark.sql.shuffle.partitions, spark.sql.ansi.enabled, ..." (serverless release notes,
# https://learn.microsoft.com/azure/databricks/release-notes/serverless ; the full list was not retrieved,
# the emulator allows the ones confirmed in docs/databricks.md).
ALLOWED_CONFS = ("spark.sql.session.timeZone", "spark.sql.ansi.enabled", "spark.sql.legacy.timeParserPolicy",
                 "spark.sql.shuffle.partitions")


class InstallFailed(RuntimeError):
    """The environment's dependencies cannot be installed on its base image."""


@dataclass(frozen=True)
class Installed:
    wheels: list[Path]
    """The wheels from the volume, as uploaded."""
    site: list[Path]
    """Each wheel installed (unpacked, as pip installs a pure wheel): what goes on the job's sys.path."""
    packages: dict[str, str]


def manifest(version: str) -> ServerlessEnvironment:
    try:
        return ENVIRONMENTS[str(version)]
    except KeyError:
        raise InstallFailed(f"environment_version {version!r} is not a serverless environment version "
                            f"(known: {', '.join(ENVIRONMENTS)})") from None


def resolve(env: ServerlessEnvironment, dependencies: list[str], local_path) -> Installed:
    """Install `dependencies` on `env`'s base image, as pip would: requirements the base meets keep the
    base version; what it does not meet is replaced, but never across a major version; every package
    must support the environment's Python. This fake offers each package at this interpreter's version."""
    markers = {**default_environment(), "python_version": env.python, "python_full_version": env.python_full}
    wheels, packages, todo = [], dict(env.base_packages), []
    for dependency in dependencies:
        if dependency.startswith(("/Volumes/", "/Workspace/")):
            wheel = local_path(dependency)
            if not wheel.is_file():
                raise InstallFailed(f"{dependency} does not exist")
            _check_python(wheel.name, _wheel_requires_python(wheel), env)
            wheels.append(wheel)
        else:
            todo.append((Requirement(dependency), "the environment's dependencies"))
    while todo:
        requirement, wanted_by = todo.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in packages and requirement.specifier.contains(packages[name], prereleases=True):
            continue
        offered = _local(name)
        if offered is None or not requirement.specifier.contains(offered.version, prereleases=True):
            raise InstallFailed(f"No matching distribution found for {requirement} (wanted by {wanted_by}); "
                                f"this fake offers {name} {offered.version if offered else 'not at all'}")
        base = env.base_packages.get(name)
        if base is not None and base.split(".")[0] != offered.version.split(".")[0]:
            raise InstallFailed(f"{requirement} (wanted by {wanted_by}) would replace {name} {base} of the base "
                                f"environment {env.version} with {offered.version}, across a major version")
        _check_python(f"{name} {offered.version}", offered.metadata.get("Requires-Python"), env)
        packages[name] = offered.version
        for sub in offered.requires or []:
            sub = Requirement(sub)
            if sub.marker is None or sub.marker.evaluate({**markers, "extra": ""}):
                todo.append((sub, f"{name} {offered.version}"))
    return Installed(wheels, [_unpacked(w) for w in wheels], packages)


def _unpacked(wheel: Path) -> Path:
    site = wheel.parent / ".installed" / wheel.stem
    if not site.is_dir():
        partial = site.with_name(site.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(partial)
        partial.rename(site)
    return site


def _local(name: str):
    try:
        return distribution(name)
    except PackageNotFoundError:
        return None


def _wheel_requires_python(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        for line in archive.read(metadata).decode().splitlines():
            if line.startswith("Requires-Python:"):
                return line.split(":", 1)[1].strip()
    return None


def _check_python(what: str, requires_python: str | None, env: ServerlessEnvironment) -> None:
    if requires_python and not SpecifierSet(requires_python).contains(env.python_full, prereleases=True):
        raise InstallFailed(f"{what} requires Python {requires_python}; environment {env.version} has Python {env.python_full}")


__all__ = ["ALLOWED_CONFS", "InstallFailed", "Installed", "UnknownEnvironmentVersion", "manifest", "resolve"]
