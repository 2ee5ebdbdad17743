"""`fare-assets doctor`: check a Databricks configuration, naming a fix for each failure.

Checks run in order and stop at the first one the rest depend on (no auth, nothing else).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fare_assets.settings import Settings

AUTH_FIX = ("set DATABRICKS_HOST and DATABRICKS_TOKEN, or DATABRICKS_CONFIG_PROFILE naming a profile of "
            "~/.databrickscfg (create one with `databricks auth login --host <workspace-url>`)")
# What the tasks do: write tables, register models, and read and write the volume.
# Anything in a schema also needs USE_CATALOG on its catalog
# (https://docs.databricks.com/api/uc-registered-models/v1/create-registered-model.md: "USE_CATALOG
# privilege on the parent catalog and the USE_SCHEMA privilege on the parent schema").
CATALOG_PRIVILEGES = ("USE_CATALOG",)
SCHEMA_PRIVILEGES = ("USE_SCHEMA", "CREATE_TABLE", "CREATE_MODEL")
VOLUME_PRIVILEGES = ("READ_VOLUME", "WRITE_VOLUME")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"[{mark}] {self.name}: {self.detail}" + ("" if self.ok else f"\n       fix: {self.fix}")


def volume_name(volume_path: str) -> str:
    parts = volume_path.removeprefix("/Volumes/").strip("/").split("/")
    return ".".join(parts[:3])


def run_checks(settings: Settings, client=None, *, probe: bool = True, probe_timeout_seconds: float = 1800) -> Iterator[Check]:
    if not settings.volume.startswith("/Volumes/") or len(settings.volume.strip("/").split("/")) != 4:
        yield Check("volume setting", False, f"FARE_ASSETS_VOLUME={settings.volume!r}",
                    "set FARE_ASSETS_VOLUME=/Volumes/<catalog>/<schema>/<volume>")
        return
    try:
        from databricks.sdk import WorkspaceClient

        client = client or WorkspaceClient()
        user = client.current_user.me().user_name
    except Exception as error:  # noqa: BLE001 - any auth problem is reported the same way
        yield Check("authentication", False, _first_line(error), AUTH_FIX)
        return
    yield Check("authentication", True, f"{client.config.host} as {user} ({client.config.auth_type} auth)")
    schema = f"{settings.catalog}.{settings.schema}"
    volume = volume_name(settings.volume)
    exists = [
        ("catalog", lambda: client.catalogs.get(settings.catalog), settings.catalog,
         f"CREATE CATALOG {settings.catalog} (or set FARE_ASSETS_CATALOG to a catalog you can use)"),
        ("schema", lambda: client.schemas.get(schema), schema,
         f"CREATE SCHEMA {schema} (or set FARE_ASSETS_SCHEMA)"),
        ("volume", lambda: client.volumes.read(volume), volume, f"CREATE VOLUME {volume}"),
        ("source table", lambda: client.tables.get(settings.databricks_source_table), settings.databricks_source_table,
         "set FARE_ASSETS_DATABRICKS_SOURCE_TABLE to a table with the samples.nyctaxi.trips or TLC columns"),
    ]
    for name, get, full_name, fix in exists:
        check = _attempt(name, get, f"{full_name} exists", fix)
        yield check
        if not check.ok and name != "source table":
            return
    yield _privileges(client, user, "catalog", settings.catalog, CATALOG_PRIVILEGES)
    yield _privileges(client, user, "schema", schema, SCHEMA_PRIVILEGES)
    yield _privileges(client, user, "volume", volume, VOLUME_PRIVILEGES)
    yield _attempt("volume write", lambda: _write_and_delete(client, f"{settings.volume}/doctor/probe.txt"),
                   f"wrote and deleted a file in {settings.volume}",
                   f"GRANT WRITE_VOLUME ON VOLUME {volume} TO `{user}`")
    if probe:
        yield from _probe(client, settings, user, probe_timeout_seconds)
    else:
        yield Check("serverless jobs", True, "not checked (--quick)")


def _attempt(name: str, action: Callable, detail: str, fix: str) -> Check:
    try:
        action()
        return Check(name, True, detail)
    except Exception as error:  # noqa: BLE001 - reported with its fix
        return Check(name, False, _first_line(error), fix)


def _privileges(client, user: str, kind: str, full_name: str, needed: tuple[str, ...]) -> Check:
    """What `user` holds on the securable, directly or through a group: without `principal=` the API
    lists every principal's privileges (databricks-sdk 0.60 GrantsAPI.get_effective)."""
    try:
        granted = {p.privilege.value if hasattr(p.privilege, "value") else str(p.privilege)
                   for a in client.grants.get_effective(kind, full_name, principal=user).privilege_assignments or []
                   if a.principal in (None, user)
                   for p in a.privileges or []}
    except Exception as error:  # noqa: BLE001
        return Check(f"{kind} privileges", False, _first_line(error), f"ask an owner of {full_name} for {', '.join(needed)}")
    missing = [p for p in needed if p not in granted and "ALL_PRIVILEGES" not in granted]
    if missing:
        return Check(f"{kind} privileges", False, f"{user} lacks {', '.join(missing)} on {full_name}",
                     f"GRANT {', '.join(missing)} ON {kind.upper()} {full_name} TO `{user}`")
    return Check(f"{kind} privileges", True, f"{user} has {', '.join(needed)} on {full_name}")


def _write_and_delete(client, path: str) -> None:
    client.files.upload(path, io.BytesIO(b"fare-assets doctor"), overwrite=True)
    client.files.delete(path)


def _probe(client, settings: Settings, user: str, timeout_seconds: float) -> Iterator[Check]:
    """One small serverless run of databricks.probe, with the job environment the tasks get; one
    check per assumption it tests on the real workspace (results written to the volume as JSON)."""
    import json
    import uuid

    from databricks.sdk.service import jobs

    from fare_assets.databricks.dependencies import job_dependencies
    from fare_assets.databricks.runner import chosen_environment, deploy_task_code, serverless_environment, task_spec

    fix = ("enable serverless compute for jobs in the account console (Settings > Feature enablement), "
           "and check that the workspace can install packages from PyPI; see the run page for the log")
    output = f"{settings.volume}/doctor/probe-{uuid.uuid4().hex[:12]}.json"
    try:
        env = chosen_environment(settings)
        pins = job_dependencies(env)
        expected = {**{n: v for n, v in env.base_packages.items() if n in ("pandas", "numpy", "pyarrow")},
                    **dict(p.split("==") for p in pins)}
        deployment = deploy_task_code(client, settings.volume)
        task = task_spec("databricks.probe", deployment.entry_path)
        task.spark_python_task.parameters += ["--output", output, "--settings", json.dumps(settings.to_env()),
                                              "--expect", json.dumps(expected), "--python", env.python]
        run_id = client.jobs.submit(tasks=[task], environments=[serverless_environment(deployment.wheel_path, env, pins)],
                                    run_name="fare_assets doctor probe").bind()["run_id"]
        deadline = time.monotonic() + timeout_seconds
        while (run := client.jobs.get_run(run_id)).state.life_cycle_state.value not in _FINAL:
            if time.monotonic() > deadline:
                client.jobs.cancel_run(run_id)
                yield Check("serverless jobs", False, f"run {run_id} did not finish in {timeout_seconds:.0f} s", fix)
                return
            time.sleep(2)
    except Exception as error:  # noqa: BLE001
        yield Check("serverless jobs", False, _first_line(error), fix)
        return
    if run.state.result_state != jobs.RunResultState.SUCCESS:
        yield Check("serverless jobs", False, f"run {run_id}: {_first_line(run.state.state_message)} ({run.run_page_url})", fix)
        return
    yield Check("serverless jobs", True, f"probe run {run_id} installed {deployment.wheel_path} and ran")
    results = json.loads(client.files.download(output).contents.read())
    client.files.delete(output)
    for result in results:
        yield Check(result["assumption"], result["ok"], result["detail"], result["fix"])


_FINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


def _first_line(error) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def doctor(settings: Settings, *, probe: bool = True, echo=print) -> int:
    """Print one table, assumption | result | fix; return 0 if all passed (the CLI's exit code)."""
    checks = list(run_checks(settings, probe=probe))
    for line in table(checks):
        echo(line)
    failed = [c for c in checks if not c.ok]
    echo(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def table(checks: list[Check]) -> list[str]:
    rows = [("assumption", "result", "fix")] + [(c.name, ("ok: " if c.ok else "FAILED: ") + c.detail, c.fix) for c in checks]
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(2)]
    return [f"{a:<{widths[0]}} | {b:<{widths[1]}} | {c}".rstrip() for a, b, c in rows]
