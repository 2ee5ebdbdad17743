"""The fake workspace's Jobs API: one-time runs (submit, get, cancel) executed as local subprocesses.

A run stands in for serverless compute: it checks the request the way the service does
(a Python task needs an environment), resolves the environment on its version's base image
(serverless_manifest.py: no package replaced across a major version, every package fit for the
version's Python; wheels from the volume go on PYTHONPATH), opens a Spark Connect session for it
on the fake cluster (its UDFs may import the wheels only where the version allows custom libraries),
mounts the volumes (CLI params naming /Volumes/... are mapped to the temp dir) and runs the
workspace script under the version's serverless rules (cluster_site/sitecustomize.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from dagster_pipes import decode_param, encode_param

from fare_assets_tests.databricks.fake_cluster import extra_path

SITE = Path(__file__).with_name("cluster_site")
PIPES_ARGS = ("--dagster-pipes-context", "--dagster-pipes-messages")


@dataclass
class FakeRun:
    run_id: int
    request: dict
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None
    seconds: float | None = None  # how long the run's process ran, for timing reports

    def as_json(self, host: str) -> dict:
        state = {"life_cycle_state": self.life_cycle_state, "state_message": self.state_message}
        if self.result_state:
            state["result_state"] = self.result_state
        return {"run_id": self.run_id, "run_name": self.request.get("run_name", ""), "state": state,
                "run_page_url": f"{host}/#job/runs/{self.run_id}",
                "tasks": [{"task_key": t["task_key"], "run_id": self.run_id} for t in self.request["tasks"]]}


class FakeJobs:
    def __init__(self, workspace, cluster=None):
        self.workspace = workspace
        self.cluster = cluster
        self.runs: dict[int, FakeRun] = {}
        self._ids = count(1001)
        self._lock = threading.Lock()

    def routes(self):
        return {
            ("POST", r"/api/2.2/jobs/runs/submit"): self._submit,
            ("GET", r"/api/2.2/jobs/runs/get"): self._get,
            ("POST", r"/api/2.2/jobs/runs/cancel"): self._cancel,
        }

    def _submit(self, m, query, body):
        import json

        from fare_assets_tests.databricks.fake_workspace import ApiError

        request = json.loads(body)
        problem = self.validate(request)
        if problem:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", problem)
        run = FakeRun(next(self._ids), request)
        self.runs[run.run_id] = run
        threading.Thread(target=self._execute, args=(run,), daemon=True).start()
        return 200, {"run_id": run.run_id}

    def _get(self, m, query, body):
        from fare_assets_tests.databricks.fake_workspace import ApiError

        run = self.runs.get(int(query["run_id"]))
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {query['run_id']} does not exist.")
        return 200, run.as_json(self.workspace.host)

    def _cancel(self, m, query, body):
        import json

        run = self.runs[int(json.loads(body)["run_id"])]
        self.cancel(run)
        return 200, {}

    def validate(self, request: dict) -> str | None:
        if len(request.get("tasks", [])) != 1:
            return "this fake runs one-task runs only"
        task = request["tasks"][0]
        if "new_cluster" in task or "existing_cluster_id" in task:
            return "not a serverless task: it names a cluster"
        if "spark_python_task" not in task:
            return "this fake runs spark_python_task only"
        environments = {e["environment_key"]: e for e in request.get("environments", [])}
        if task.get("environment_key") not in environments:
            return "A serverless Python task needs an environment_key that names one of `environments`"
        if not environments[task["environment_key"]]["spec"].get("environment_version"):
            return "environments[].spec.environment_version is required"
        return None

    def _execute(self, run: FakeRun) -> None:
        task = run.request["tasks"][0]
        spec = next(e["spec"] for e in run.request["environments"] if e["environment_key"] == task["environment_key"])
        run_dir = self.workspace.root / "runs" / str(run.run_id)
        run_dir.mkdir(parents=True)
        run.log_path = run_dir / "driver.log"
        try:
            script = self.workspace.local_path(task["spark_python_task"]["python_file"])
            if not script.is_file():
                raise RuntimeError(f"python_file {task['spark_python_task']['python_file']} does not exist")
            env = self._environment(spec)
            argv = [sys.executable, str(script), *self._mount(task["spark_python_task"].get("parameters", []))]
        except Exception as error:  # noqa: BLE001 - any setup problem fails the run, as on Databricks
            return self._finish(run, "FAILED", str(error))
        with self._lock:
            if run.life_cycle_state != "PENDING":
                return
            with open(run.log_path, "wb") as log:
                run.process = subprocess.Popen(argv, cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True)
            run.life_cycle_state = "RUNNING"
        started = time.perf_counter()
        code = run.process.wait()
        run.seconds = time.perf_counter() - started
        if run.life_cycle_state == "RUNNING":
            tail = run.log_path.read_text(errors="replace")[-2000:]
            self._finish(run, "SUCCESS" if code == 0 else "FAILED", "" if code == 0 else f"exit code {code}: {tail}")

    def _environment(self, spec: dict) -> dict[str, str]:
        from fare_assets_tests.databricks.serverless_manifest import ALLOWED_CONFS, manifest, resolve

        env = manifest(spec["environment_version"])
        installed = resolve(env, spec.get("dependencies", []), self.workspace.local_path)
        cluster_env = dict(self.cluster.env) if self.cluster else {}
        # The runtime's own start-up code (cluster_site) comes after the installed wheels.
        paths = [str(w) for w in installed.site] + [str(SITE), *extra_path()]
        if self.cluster:
            cluster_env["SPARK_REMOTE"] = self.cluster.session(installed.wheels if env.udf_custom_libraries else [])
        return {
            "PATH": os.environ.get("PATH", ""), "HOME": str(self.workspace.root / "home"),
            "JAVA_HOME": os.environ.get("JAVA_HOME", ""), "PYTHONPATH": os.pathsep.join(paths),
            # "client.<major>.<minor>" marks serverless (mlflow/utils/databricks_utils.py is_in_databricks_serverless_runtime).
            "DATABRICKS_RUNTIME_VERSION": f"client.{env.version}.0",
            "FAKE_SERVERLESS_CACHE": "true" if env.dataframe_cache else "false",
            "FAKE_SERVERLESS_CONFS": ",".join(ALLOWED_CONFS),
            # The runtime authenticates notebooks and jobs itself; user code never sees a user's token.
            "DATABRICKS_HOST": self.workspace.host, "DATABRICKS_TOKEN": self.workspace.token,
            **cluster_env,
        }

    def _mount(self, parameters: list[str]) -> list[str]:
        """Rewrite the /Volumes/... paths inside Pipes params to the folders that hold the volumes."""
        mounted = [self._mounted(value) for value in parameters]
        for i, value in enumerate(parameters[:-1]):
            if value in PIPES_ARGS:
                params = decode_param(parameters[i + 1])
                mounted[i + 1] = encode_param({k: self._mounted(v) for k, v in params.items()})
        return mounted

    def _mounted(self, value):  # serverless mounts /Volumes/... as files
        return str(self.workspace.local_path(value)) if isinstance(value, str) and value.startswith("/Volumes/") else value

    def _finish(self, run: FakeRun, result: str, message: str) -> None:
        run.life_cycle_state, run.result_state, run.state_message = "TERMINATED", result, message

    def cancel(self, run: FakeRun) -> None:
        with self._lock:
            if run.life_cycle_state in ("TERMINATED", "INTERNAL_ERROR"):
                return
            run.life_cycle_state = "TERMINATING"
            if run.process and run.process.poll() is None:
                os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait()
            self._finish(run, "CANCELED", "Run cancelled.")

    def cancel_all(self) -> None:
        for run in list(self.runs.values()):
            self.cancel(run)
