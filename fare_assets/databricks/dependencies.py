"""What a serverless job environment must install on top of its base image, checked before submitting.

The base environment of each version (fare_assets.databricks.environment) already ships pandas,
numpy, pyarrow, scikit-learn and mlflow-skinny. We install only what it lacks or what must be our
version (the one uv.lock resolved and the tests ran), and never replace a base package across a major
version: compiled packages of the image (pyarrow, pyspark's Connect client) are built against its
pandas and numpy, and Databricks Connect caps pandas below 3
(https://docs.databricks.com/aws/release-notes/dbconnect: "Supported pandas versions are now limited
to 1.0.5<=pandas<3"). A conflict fails here, naming the package, before any call to Databricks.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

from fare_assets.databricks.environment import ServerlessEnvironment

PROJECT_DIR = Path(__file__).resolve().parents[2]
LOCK_FILE = PROJECT_DIR / "uv.lock"
PYPROJECT = PROJECT_DIR / "pyproject.toml"
# Installed at our version. mlflow (not only the base's mlflow-skinny): the tasks log models with
# skops (mlflow's sklearn default) and name `mlflow` in the model's requirements; skops is pinned
# because mlflow only asks for skops<1 and the saved format must load where we tested it.
INSTALLED = {"dagster-pipes": None, "mlflow": "mlflow-skinny", "scikit-learn": "scikit-learn", "skops": None}
# Used as the base ships them; the base version must meet pyproject's requirement, and for the
# packages whose data we pickle (models, frames) it must be our major version too.
FROM_BASE = {"pandas": True, "numpy": True, "pyarrow": False, "cloudpickle": False}


class EnvironmentConflict(RuntimeError):
    """The chosen serverless environment cannot run the task code as we tested it."""


def job_dependencies(env: ServerlessEnvironment, lock_file: Path = LOCK_FILE,
                     pyproject: Path = PYPROJECT) -> list[str]:
    """`name==version` for each package the job environment must install on `env`'s base image."""
    locked = _locked(lock_file)
    problems, pins = [], []
    for name, base_name in INSTALLED.items():
        ours = locked.get(name) or _installed(name)
        if ours is None:
            raise EnvironmentConflict(f"{name} is neither in {lock_file} nor installed: run `uv sync`")
        base = env.base_packages.get(base_name or name)
        if base == ours:
            continue
        if base is not None and _major(base) != _major(ours):
            problems.append(f"{name}: ours is {ours}, environment {env.version} ships {base_name or name} {base} "
                            "(a different major version: it would be replaced under the image's packages)")
            continue
        pins.append(f"{name}=={ours}")
    requirements = _project_requirements(pyproject)
    for name, same_major in FROM_BASE.items():
        base, ours = env.base_packages.get(name), locked.get(name) or _installed(name)
        if base is None:
            problems.append(f"{name}: environment {env.version} does not ship it")
        elif name in requirements and not requirements[name].specifier.contains(base, prereleases=True):
            problems.append(f"{name}: we need {requirements[name].specifier} (locked {ours}), "
                            f"environment {env.version} ships {base}")
        elif same_major and ours and _major(base) != _major(ours):
            problems.append(f"{name}: ours is {ours}, environment {env.version} ships {base}")
    if problems:
        raise EnvironmentConflict(
            f"serverless environment {env.version} (Python {env.python}, Databricks Connect {env.databricks_connect}) "
            "cannot run the task code as tested: " + "; ".join(problems)
            + ". Choose another environment version, or align uv.lock with its base packages"
            " (fare_assets/databricks/environment.py lists them).")
    return pins


def _locked(lock_file: Path) -> dict[str, str]:
    """The version uv.lock resolved for each package (the installed one where it holds several)."""
    versions: dict[str, set[str]] = {}
    if lock_file.exists():
        for package in tomllib.loads(lock_file.read_text())["package"]:
            versions.setdefault(package["name"], set()).add(package.get("version", ""))
    chosen = {}
    for name, candidates in versions.items():
        installed = _installed(name)
        chosen[name] = installed if installed in candidates else sorted(candidates)[-1]
    return chosen


def _project_requirements(pyproject: Path) -> dict[str, Requirement]:
    if not pyproject.exists():
        return {}
    requirements = (Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    return {r.name.lower(): r for r in requirements}


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _major(value: str) -> int:
    return int(value.split(".")[0])
