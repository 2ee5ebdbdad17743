"""Databricks serverless environment versions, as documented: what each one ships and allows.

Pure data (stdlib only) so that the runner, the doctor and the fake workspace can agree on what
a serverless job with `environment_version=N` gets. Every value below comes from a Databricks
documentation page or from a package list derived from Databricks' own `requirements-env-N.txt`
files; the source is cited on each entry. Where a fact could not be found the conservative value
is used and the comment says so. docs/databricks_facts.md holds the quotes.

Sources used for every entry:

* Version table (Python, Databricks Connect, release / end-of-support dates), "This page provides
  a reference for the currently released serverless environment versions":
  https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/
  (copy with version 5: https://learn.microsoft.com/en-ca/azure/databricks/release-notes/serverless/environment-version/
  and https://docs.azure.cn/en-us/databricks/release-notes/serverless/environment-version).
  Every version listed there is "currently released"; none carries a Preview/Beta label (only the
  serverless *GPU* variants are Beta), so all are treated as generally available for jobs.
* Installed Python libraries: each version page (.../environment-version/one .. five) links a
  `requirements-env-N.txt`. Those files could not be fetched here; the versions below are read from
  https://github.com/rugpanov/databricks-environments python/serverless/serverless-vN/pyproject.toml,
  which its scripts/sync.py and scripts/envgen.py generate mechanically from those official files
  (`name==version` rewritten as `name~=version`, so the number shown is the exact published pin).
  Databricks patches environment versions in place (security updates; version 4's Connect moved from
  17.2.3 to 17.3.2 between two copies of the table), so patch levels may drift.
* DataFrame caching: https://docs.databricks.com/aws/ja/compute/serverless/dataframe-cache (only the
  Japanese copy was retrieved; translated): Public Preview; notebooks and jobs on serverless must use
  environment version 5 or above; Databricks Connect for Python >= 18.1.8; older clients get
  CACHE_REQUIRES_NEWER_CLIENT_ON_SERVERLESS_GC.
  Before that: "[NOT_SUPPORTED_WITH_SERVERLESS] PERSIST TABLE is not supported on serverless
  compute. SQLSTATE: 0A000" (https://github.com/capitalone/datacompy/issues/407).
* UDF libraries: https://docs.databricks.com/aws/en/dev-tools/databricks-connect/python/limitations
  "Not available on Databricks Connect for Databricks Runtime 16.3 and below: On serverless
  compute, UDFs cannot include custom libraries."
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

_VERSIONS_PAGE = "https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/"
_PACKAGES = (
    "https://github.com/rugpanov/databricks-environments/blob/main/python/serverless/serverless-v{}/pyproject.toml"
)


class UnknownEnvironmentVersion(ValueError):
    """An `environment_version` that no Databricks documentation found here describes."""


@dataclass(frozen=True)
class ServerlessEnvironment:
    version: str
    """The `environment_version` string of a job's `environments[].spec` ("an integer", per the SDK)."""
    python: str
    """major.minor of the interpreter (the full version is in `python_full`)."""
    python_full: str
    databricks_connect: str
    """As the version table prints it (version 5: "18"; its package list pins 18.0.x)."""
    base_packages: Mapping[str, str]
    """Pinned versions of the packages this project cares about; absent = not in the base environment."""
    dataframe_cache: bool
    """`DataFrame.cache()/persist()` work unconditionally. False everywhere: see `dataframe_cache_preview`."""
    dataframe_cache_preview: bool
    """Caching is documented as a Public Preview for this version (on by default, but an admin can turn it
    off and it is unavailable under the compliance security profile), so code must not rely on it."""
    udf_custom_libraries: bool
    """Per the Databricks Connect limitations page: False when the bundled Connect is <= 16.3."""
    ga_for_jobs: bool
    release_date: str
    end_of_support: str
    sources: tuple[str, ...] = field(default=())

    @property
    def pandas_major(self) -> int:
        return int(self.base_packages["pandas"].split(".")[0])


def _pkgs(**versions: str) -> Mapping[str, str]:
    return MappingProxyType({name.replace("_", "-"): v for name, v in versions.items()})


_ENVIRONMENTS: dict[str, ServerlessEnvironment] = {
    # Version 1: Python 3.10.12, Databricks Connect 14.3.7, released 2024-03-12, supported to 2027-03-12.
    # https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/one
    # Its package list has neither mlflow-skinny nor cloudpickle.
    "1": ServerlessEnvironment(
        version="1", python="3.10", python_full="3.10.12", databricks_connect="14.3.7",
        base_packages=_pkgs(pandas="1.5.3", numpy="1.23.5", pyarrow="8.0.0", scikit_learn="1.1.1",
                            scipy="1.10.0", matplotlib="3.7.0", databricks_sdk="0.20.0"),
        dataframe_cache=False, dataframe_cache_preview=False, udf_custom_libraries=False,
        ga_for_jobs=True, release_date="2024-03-12", end_of_support="2027-03-12",
        sources=(_VERSIONS_PAGE, _VERSIONS_PAGE + "one", _PACKAGES.format(1)),
    ),
    # Version 2: Python 3.11.10, Databricks Connect 15.4.5, released 2024-11-21, supported to 2027-11-21.
    # https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/two
    "2": ServerlessEnvironment(
        version="2", python="3.11", python_full="3.11.10", databricks_connect="15.4.5",
        base_packages=_pkgs(pandas="1.5.3", numpy="1.23.5", pyarrow="14.0.1", scikit_learn="1.3.0",
                            mlflow_skinny="2.11.4", cloudpickle="3.0.0", scipy="1.11.1",
                            matplotlib="3.7.2", databricks_sdk="0.40.0"),
        dataframe_cache=False, dataframe_cache_preview=False, udf_custom_libraries=False,
        ga_for_jobs=True, release_date="2024-11-21", end_of_support="2027-11-21",
        sources=(_VERSIONS_PAGE, _VERSIONS_PAGE + "two", _PACKAGES.format(2)),
    ),
    # Version 3: Python 3.12.3, Databricks Connect 16.4.2 (upgraded from 16.3 on 2025-06-13, per the
    # version page), released 2025-06-13, supported to 2028-06-13.
    # https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/three
    # pandas 1.5.3 / numpy 1.26.4 are what the published list pins (the same pair as DBR 16.4).
    "3": ServerlessEnvironment(
        version="3", python="3.12", python_full="3.12.3", databricks_connect="16.4.2",
        base_packages=_pkgs(pandas="1.5.3", numpy="1.26.4", pyarrow="15.0.2", scikit_learn="1.4.2",
                            mlflow_skinny="2.21.3", cloudpickle="3.0.0", scipy="1.13.1",
                            matplotlib="3.8.4", databricks_sdk="0.49.0"),
        dataframe_cache=False, dataframe_cache_preview=False, udf_custom_libraries=True,
        ga_for_jobs=True, release_date="2025-06-13", end_of_support="2028-06-13",
        sources=(_VERSIONS_PAGE, _VERSIONS_PAGE + "three", _PACKAGES.format(3)),
    ),
    # Version 4: Python 3.12.3, Databricks Connect 17.3.2 (17.2.3 in older copies of the table),
    # Scala 2.13.16, JDK 17, released 2025-08-13, supported to 2028-08-13. Adds Spark ML on serverless.
    # https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/four
    "4": ServerlessEnvironment(
        version="4", python="3.12", python_full="3.12.3", databricks_connect="17.3.2",
        base_packages=_pkgs(pandas="2.2.3", numpy="2.1.3", pyarrow="19.0.1", scikit_learn="1.6.1",
                            mlflow_skinny="2.22.0", cloudpickle="3.0.0", scipy="1.15.1",
                            matplotlib="3.10.0", databricks_sdk="0.49.0"),
        dataframe_cache=False, dataframe_cache_preview=False, udf_custom_libraries=True,
        ga_for_jobs=True, release_date="2025-08-13", end_of_support="2028-08-13",
        sources=(_VERSIONS_PAGE, _VERSIONS_PAGE + "four", _PACKAGES.format(4)),
    ),
    # Version 5: Python 3.12.3, Databricks Connect "18" (the package list pins 18.0.x), released
    # 2026-02-25, supported to 2029-02-25. "includes MLflow 3.8.1, a major upgrade from MLflow 2.22.0
    # in environment version 4"; Arrow optimisation on by default for Python UDFs; deltalake is now in
    # the base environment.
    # https://docs.databricks.com/gcp/en/release-notes/serverless/environment-version/five
    # Caching: documented for "environment version 5 or above" but as a Public Preview that also needs
    # Databricks Connect for Python >= 18.1.8, and this list pins 18.0.x: not relied upon.
    "5": ServerlessEnvironment(
        version="5", python="3.12", python_full="3.12.3", databricks_connect="18",
        base_packages=_pkgs(pandas="2.2.3", numpy="2.1.3", pyarrow="21.0.0", scikit_learn="1.6.1",
                            mlflow_skinny="3.8.1", cloudpickle="3.0.0", scipy="1.15.3",
                            matplotlib="3.10.0", deltalake="1.1.4", databricks_sdk="0.67.0"),
        dataframe_cache=False, dataframe_cache_preview=True, udf_custom_libraries=True,
        ga_for_jobs=True, release_date="2026-02-25", end_of_support="2029-02-25",
        sources=(_VERSIONS_PAGE, _VERSIONS_PAGE + "five", _PACKAGES.format(5),
                 "https://docs.databricks.com/aws/ja/compute/serverless/dataframe-cache"),
    ),
    # Not listed: a "serverless-v6" package list (Connect 19.1, pandas 2.3.3, numpy 2.3.4,
    # scikit-learn 1.7.2, mlflow-skinny 3.12.0) exists in the same GitHub repository, but no Databricks
    # page describing environment version 6 was found, so it is treated as unknown.
}

ENVIRONMENTS: Mapping[str, ServerlessEnvironment] = MappingProxyType(_ENVIRONMENTS)

DEFAULT_ENVIRONMENT_VERSION = max((e.version for e in _ENVIRONMENTS.values() if e.ga_for_jobs), key=int)
"""The newest environment version documented as released (GA) for jobs: "5"."""


def environment(version: str | int) -> ServerlessEnvironment:
    """The documented facts for `environment_version`, or UnknownEnvironmentVersion."""
    key = str(version).strip()
    try:
        return _ENVIRONMENTS[key]
    except KeyError:
        known = ", ".join(sorted(_ENVIRONMENTS, key=int))
        raise UnknownEnvironmentVersion(
            f"serverless environment version {version!r} is not one documented here (known: {known}); "
            f"see {_VERSIONS_PAGE}"
        ) from None
