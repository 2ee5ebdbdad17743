"""`fare-assets doctor` finds what is wrong with a Databricks configuration and names the fix."""

from __future__ import annotations


from fare_assets.databricks.doctor import doctor, run_checks
from fare_assets.settings import Settings
from fare_assets_tests.databricks.fake_workspace import FAKE_USER, FakeWorkspace

VOLUME = "/Volumes/main/ml_serving/fare_assets"


def settings(tmp_path, volume: str = VOLUME) -> Settings:
    return Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": volume,
                              "FARE_ASSETS_HOME": str(tmp_path)})



def test_a_complete_configuration_passes_every_check_including_a_serverless_probe(serverless, tmp_path):
    lines = []
    doctor(settings(tmp_path), echo=lines.append)
    header, *rows, summary = lines
    assert [c.strip() for c in header.split(" | ")] == ["assumption", "result", "fix"]
    results = {row.split(" | ")[0].strip(): row.split(" | ")[1] for row in rows}
    for assumption in ("catalog privileges", "serverless jobs", "a Python UDF imports the task wheel",
                       "the experiment folder is created and the experiment set",
                       "the job environment installs the task wheel from the volume",
                       "a model with a signature registers in Unity Catalog"):
        assert results[assumption].startswith("ok: "), (assumption, results[assumption])
    assert "registered main.ml_serving.fare_assets_probe version 1 with a signature" in \
        results["a model with a signature registers in Unity Catalog"]
    # What the fake cannot be: its jobs run this interpreter and this venv's packages, not environment 5's
    # Python 3.12 and pandas 2.2.3. The probe says so, which is what it is for on a real workspace.
    cannot = {"the environment's Python is 3.12", "package versions are the ones the job environment asked for"}
    assert {a for a, r in results.items() if not r.startswith("ok: ")} <= cannot
    assert summary == f"{len(rows) - len(cannot & {a for a, r in results.items() if not r.startswith('ok: ')})} passed, " \
                      f"{len(cannot & {a for a, r in results.items() if not r.startswith('ok: ')})} failed"
    assert serverless.local_path("/Shared/fare_assets").is_dir()


def test_no_credentials_fail_authentication_with_the_fix(workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABRICKS_TOKEN")
    [check] = run_checks(settings(tmp_path), probe=False)
    assert (check.name, check.ok) == ("authentication", False)
    assert "DATABRICKS_CONFIG_PROFILE" in check.fix and "databricks auth login" in check.fix


def test_a_missing_volume_names_the_create_statement(workspace, tmp_path):
    found = {c.name: c for c in run_checks(settings(tmp_path, "/Volumes/main/ml_serving/other"), probe=False)}
    assert not found["volume"].ok
    assert found["volume"].fix == "CREATE VOLUME main.ml_serving.other"
    assert "volume write" not in found  # nothing else is checked against a missing volume


def test_missing_privileges_are_listed_with_the_grant(tmp_path, monkeypatch):
    with FakeWorkspace(tmp_path / "ws", privileges=("USE_SCHEMA", "READ_VOLUME")) as fake:
        found = {c.name: c for c in run_checks(settings(tmp_path), fake.client(), probe=False)}
    assert found["schema privileges"].fix == f"GRANT CREATE_TABLE, CREATE_MODEL ON SCHEMA main.ml_serving TO `{FAKE_USER}`"
    assert "WRITE_VOLUME" in found["volume privileges"].detail
    assert found["catalog privileges"].fix == f"GRANT USE_CATALOG ON CATALOG main TO `{FAKE_USER}`"


def test_privileges_held_by_someone_else_do_not_count(tmp_path):
    # The user can use the schema and volume but not the catalog; an admins group holds everything.
    mine = ("USE_SCHEMA", "CREATE_TABLE", "CREATE_MODEL", "READ_VOLUME", "WRITE_VOLUME")
    with FakeWorkspace(tmp_path / "ws", principals={FAKE_USER: mine, "admins": ("ALL_PRIVILEGES",)}) as fake:
        found = {c.name: c for c in run_checks(settings(tmp_path), fake.client(), probe=False)}
        asked = {r.query.get("principal") for r in fake.requests_to("GET", "/api/2.1/unity-catalog/effective-permissions/")}
    assert asked == {FAKE_USER}
    assert (found["catalog privileges"].ok, found["schema privileges"].ok, found["volume privileges"].ok) == (False, True, True)
    assert "lacks USE_CATALOG on main" in found["catalog privileges"].detail


def test_a_badly_formed_volume_setting_is_reported_first(tmp_path):
    bad = Settings.from_env({"FARE_ASSETS_TARGET": "databricks", "FARE_ASSETS_VOLUME": "/Volumes/main",
                             "FARE_ASSETS_HOME": str(tmp_path)})
    [check] = run_checks(bad, probe=False)
    assert check.fix == "set FARE_ASSETS_VOLUME=/Volumes/<catalog>/<schema>/<volume>"
