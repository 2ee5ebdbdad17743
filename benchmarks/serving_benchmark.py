"""Our endpoint against `mlflow models serve --env-manager local`, same model version, same load.

    uv run python benchmarks/serving_benchmark.py [--rounds 3] [--duration 5] [--home DIR --version N]

Without --home it registers the project's model shape (fare_assets.ml.training.build_model, trained
on 60k generated trips) in a temporary home. Each round restarts both servers (timing how long
each takes to answer its first prediction), then runs every scenario on both, alternating which
goes first, with wrk (a separate process, 127.0.0.1 only, fixed duration). Ours runs with auth
and full validation on; both receive the same bytes, Authorization header included. Medians over
rounds are printed as a Markdown table with the ratio ours/stock.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fare_assets.serving.manager import LocalEndpoint, bind_problem, child_env
from fare_assets.settings import Settings

TOKEN = "benchmark-token"
SCENARIOS = [("1 row, c=1", 1, 1), ("1 row, c=8", 1, 8), ("1 row, c=32", 1, 32), ("100 rows, c=8", 100, 8)]
ROW = {"trip_distance": 3.5, "pickup_hour": 17, "pickup_dayofweek": 3, "pickup_month": 6,
       "is_weekend": 0, "is_rush_hour": 1}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def register_model(settings: Settings) -> int:
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature

    from fare_assets.ml.schema import FEATURE_COLUMNS
    from fare_assets.ml.training import build_model

    rng = np.random.default_rng(0)
    n = 60_000
    hour, day = rng.integers(0, 24, n), rng.integers(1, 8, n)
    weekend = np.isin(day, [1, 7]).astype(int)
    rush = ((weekend == 0) & np.isin(hour, [7, 8, 9, 16, 17, 18, 19])).astype(int)
    frame = pd.DataFrame({"trip_distance": np.round(rng.lognormal(0.6, 0.8, n), 2), "pickup_hour": hour,
                          "pickup_dayofweek": day, "pickup_month": rng.integers(1, 13, n),
                          "is_weekend": weekend, "is_rush_hour": rush})[list(FEATURE_COLUMNS)]
    fare = 3.0 + 2.4 * frame["trip_distance"] + 1.2 * rush + rng.gamma(2.0, 0.6, n)
    model = build_model(list(FEATURE_COLUMNS), {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20})
    model.fit(frame.to_numpy(np.float64), fare.to_numpy())
    mlflow.set_tracking_uri(settings.local_mlflow_uri)
    mlflow.set_registry_uri(settings.local_mlflow_uri)
    mlflow.set_experiment(mlflow.create_experiment("serving_benchmark", artifact_location=settings.artifact_location))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=frame.head(3), registered_model_name=settings.registered_model_name,
            signature=infer_signature(frame.head(50), pd.Series(model.predict(frame.head(50).to_numpy()), name="prediction")),
            serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
    print(f"registered version {info.registered_model_version}: {model[-1].n_iter_} boosting iterations", flush=True)
    return int(info.registered_model_version)


def wait_for_prediction(url: str, body: bytes, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=2.0)
            if reply.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_stock(settings: Settings, version: int, port: int, log: Path,
                omp_threads: int | None) -> tuple[subprocess.Popen, float]:
    env = {**child_env(settings.to_env(), None), "MLFLOW_TRACKING_URI": settings.local_mlflow_uri,
           "MLFLOW_REGISTRY_URI": settings.local_mlflow_uri}
    if omp_threads:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    if bind_problem("127.0.0.1", port):
        sys.exit(f"port {port} is busy: pass --stock-port")
    started = time.perf_counter()
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{settings.registered_model_name}/{version}",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    wait_for_prediction(f"http://127.0.0.1:{port}/invocations", body_of(1))
    return child, time.perf_counter() - started


def stop_stock(child: subprocess.Popen) -> None:
    """`mlflow models serve` runs uvicorn as a child: end its whole session (it leads one)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
            child.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def start_ours(endpoint: LocalEndpoint, version: int) -> float:
    started = time.perf_counter()
    endpoint.deploy(version)  # returns after its own verification prediction over HTTP
    return time.perf_counter() - started


def body_of(rows: int) -> bytes:
    return json.dumps({"dataframe_records": [ROW] * rows}).encode()


def wrk(url: str, body_file: Path, connections: int, seconds: int) -> dict:
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
        f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*a"); f:close()\n')
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 30, check=False)
    out = out.stdout if out.returncode == 0 else sys.exit(f"wrk failed: {out.stderr or out.stdout}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), "errors": errors,
            "p50": to_ms(latency["50"]), "p99": to_ms(latency["99"])}


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fare-serving-bench-"))
    home = Path(args.home) if args.home else work / "home"
    settings = Settings.from_env({**os.environ, "FARE_ASSETS_HOME": str(home), "FARE_ASSETS_SERVING_PORT": str(args.port)})
    version = args.version or register_model(settings)
    endpoint = LocalEndpoint(settings, token=TOKEN)
    ours_url = f"{settings.serving_url}/serving-endpoints/{settings.endpoint_name}/invocations"
    stock_url = f"http://127.0.0.1:{args.stock_port}/invocations"
    bodies = {rows: work / f"body_{rows}.json" for rows in {r for _, r, _ in SCENARIOS}}
    for rows, path in bodies.items():
        path.write_bytes(body_of(rows))
    results = {name: {"ours": [], "stock": []} for name, _, _ in SCENARIOS}
    ready = {"ours": [], "stock": []}
    try:
        for round_number in range(args.rounds):
            ready["ours"].append(start_ours(endpoint, version))
            stock, seconds = start_stock(settings, version, args.stock_port, work / "stock.log",
                                         args.stock_omp_threads)
            ready["stock"].append(seconds)
            try:
                for name, rows, connections in SCENARIOS:
                    order = [("ours", ours_url), ("stock", stock_url)]
                    for server, url in order if round_number % 2 == 0 else order[::-1]:
                        wrk(url, bodies[rows], connections, 1)  # warm-up, not recorded
                        results[name][server].append(wrk(url, bodies[rows], connections, args.duration))
                    print(f"round {round_number + 1} {name}: ours {results[name]['ours'][-1]} "
                          f"stock {results[name]['stock'][-1]}", flush=True)
            finally:
                stop_stock(stock)
                endpoint.stop()
    finally:
        endpoint.stop()
        if not args.home:
            shutil.rmtree(work, ignore_errors=True)
    return {"results": results, "ready": ready}


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def table(measured: dict) -> str:
    lines = ["| load | ours req/s | stock req/s | ours/stock | ours p50 / p99 ms | stock p50 / p99 ms | errors ours / stock |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, by_server in measured["results"].items():
        ours, stock = by_server["ours"], by_server["stock"]
        lines.append(
            f"| {name} | {median(ours, 'rps'):,.0f} | {median(stock, 'rps'):,.0f} | "
            f"{median(ours, 'rps') / median(stock, 'rps'):.1f}x | {median(ours, 'p50'):.2f} / {median(ours, 'p99'):.2f} | "
            f"{median(stock, 'p50'):.2f} / {median(stock, 'p99'):.2f} | "
            f"{sum(r['errors'] for r in ours)} / {sum(r['errors'] for r in stock)} |")
    ours_ready, stock_ready = (statistics.median(measured["ready"][s]) for s in ("ours", "stock"))
    lines.append(f"| start to first prediction | {ours_ready:.2f} s | {stock_ready:.2f} s | "
                 f"{stock_ready / ours_ready:.1f}x faster | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per scenario and server")
    parser.add_argument("--home", help="an existing FARE_ASSETS_HOME whose registry holds --version")
    parser.add_argument("--version", type=int)
    parser.add_argument("--port", type=int, default=5188)
    parser.add_argument("--stock-port", type=int, default=5189)
    parser.add_argument("--stock-omp-threads", type=int,
                        help="OMP_NUM_THREADS for the stock server (default: unset, as users run it; ours uses 1)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    measured = run(args)
    print(f"\nmedians of {args.rounds} rounds, {args.duration:g} s per run, load average "
          f"{os.getloadavg()[0]:.2f} at end\n")
    print(table(measured))


if __name__ == "__main__":
    main()
