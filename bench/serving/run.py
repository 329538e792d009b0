"""Serving benchmark: the predictor against a bare Flask app and a naive baseline, in one run.

    .venv/bin/python bench/serving/run.py [--database-url postgresql://...] [--seconds 10]

Runs, under the same gunicorn settings (the predictor's gunicorn config), (a), (b0) and (b) taking turns:
  (a) a bare Flask app answering a constant,
  (b0) the predictor with its model call replaced by a constant: what serving costs before the model,
  (b) the predictor with a model trained here on generated trips, logging into Postgres,
  (c) a naive Flask app: Keras model.predict and one INSERT + commit per request,
and loads each with wrk (installed from Debian's packages when missing). Prints requests/s, p50 and
p99 latency, the ratios b/a and b/c, the p99 of (b) at half its maximum throughput, the sustained
rate of prediction-log rows into Postgres, and the rows lost at a graceful shutdown.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from taxifare.core import clock, synth
from taxifare.core.db import migrate, tables
from taxifare.core.db.engine import connect_engine
from taxifare.core.trips import DataStore
from taxifare.predictor.cli import GUNICORN_CONF

HERE = Path(__file__).resolve().parent
TRIP = {
    "pickup_datetime": "2015-03-20T18:05:00",
    "pickup_longitude": -73.98,
    "pickup_latitude": 40.75,
    "dropoff_longitude": -73.87,
    "dropoff_latitude": 40.77,
    "passenger_count": 2,
}
NOW = datetime(2015, 3, 31, 23, 0)
# The predictor's gunicorn defaults, for all three servers alike (the environment may change them).
WORKERS = os.environ.get("WEB_CONCURRENCY", "2")
THREADS = os.environ.get("PREDICTOR_THREADS", "8")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian's packages ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True, check=False
    ).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True, check=True)
    return shutil.which("wrk") or sys.exit("wrk could not be installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(workdir: Path) -> str:
    """A model trained by the trainer on a month of generated trips; returns its published folder."""
    trainer = shutil.which("taxifare-trainer", path=str(Path(sys.executable).parent))
    if trainer is None:
        sys.exit("taxifare-trainer is not installed: pip install -e services/trainer")
    DataStore(workdir / "data").append(synth.generate(5000, datetime(2015, 3, 1), NOW, seed=11))
    subprocess.run(
        [trainer, "train", "--data-uri", str(workdir / "data"), "--model-store-uri", str(workdir / "models"),
         "--train-days", "28", "--eval-days", "3", "--epochs", "3", "--now", NOW.isoformat(), "--version", "bench"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(workdir / "models" / "bench")


class Server:
    def __init__(self, app: str, env: dict, workdir: Path, name: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (workdir / f"{name}.log").open("wb")
        env = {
            **os.environ,
            "WEB_CONCURRENCY": WORKERS,
            "PREDICTOR_THREADS": THREADS,
            **env,
            "PORT": str(self.port),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "apps"), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), app],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait(self, path: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        streak = 0
        while streak < 10:
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not become ready on {path}; see {self.log.name}")
            try:
                ok = requests.get(self.url + path, timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            streak = streak + 1 if ok else 0
            time.sleep(0.05 if ok else 0.5)

    def stop(self, timeout: float = 120) -> float:
        """SIGTERM, as an orchestrator stops a pod; returns the seconds the graceful shutdown took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        self.log.close()
        return time.monotonic() - started


def lua_script(workdir: Path, instances: int, delay_ms: float = 0.0) -> Path:
    body = json.dumps({"instances": [TRIP] * instances})
    script = workdir / f"post-{instances}-{delay_ms:g}.lua"
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(body)}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if delay_ms > 0:
        # wrk calls delay() before each request of a connection and waits that many milliseconds.
        # Exponential waits make arrivals random (Poisson); a fixed wait would keep the connections
        # in step, sending bursts of one request per connection at once.
        lines.append(f"function delay() return -{delay_ms:.3f} * math.log(1 - math.random()) end")
    script.write_text("\n".join(lines) + "\n")
    return script


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, script: Path, seconds: float, connections: int) -> dict:
    result = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            url + "/v1/predict",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * UNITS[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def fresh_database(server_url: str, model_dir: str) -> tuple[str, callable]:
    """A throwaway database beside `server_url`'s, with `model_dir` registered as the live model."""
    name = f"taxifare_bench_{uuid.uuid4().hex[:8]}"
    admin = connect_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    engine = connect_engine(url)
    with engine.begin() as conn:
        conn.execute(
            tables.model_versions.insert().values(
                version="bench", created_at=clock.utcnow(), model_uri=model_dir, status="live"
            )
        )
    engine.dispose()

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url, drop


def count_predictions(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.predictions)).scalar_one()


def metric_sum(url: str, name: str) -> float:
    text = requests.get(url + "/metrics", timeout=30).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def measure(wrk: str, server: Server, script: Path, seconds: float, connections: int) -> dict:
    run_wrk(wrk, server.url, script, 2, connections)  # warm-up: connections, caches, lazy imports
    return run_wrk(wrk, server.url, script, seconds, connections)


def median_row(rows: list[dict]) -> dict:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test",
                        help="a Postgres server; a throwaway database is created beside this one")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="turns (a), (b0) and (b) take, alternating")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--model-dir", help="a published model folder (default: train one now)")
    args = parser.parse_args()

    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="taxifare-bench-serving-"))
    print(f"work folder {workdir}", file=sys.stderr)
    model_dir = args.model_dir or train_model(workdir)
    # (b0) gets a database of its own, so (b)'s rows can be counted after its shutdown.
    database_url, drop_database = fresh_database(args.database_url, model_dir)
    constant_url, drop_constant = fresh_database(args.database_url, model_dir)
    engine = connect_engine(database_url)
    single, hundred = lua_script(workdir, 1), lua_script(workdir, 100)
    results = {}
    try:
        hello = Server("hello:app", {}, workdir, "a-hello")
        env = {
            "DATABASE_URL": database_url,
            "TAXIFARE_STATE_DIR": str(workdir / "state"),
            "LOG_LEVEL": "WARNING",
        }
        constant = Server(
            "constant_model:app", {**env, "DATABASE_URL": constant_url}, workdir, "b0-constant-model"
        )
        predictor = Server("taxifare.predictor.wsgi:create()", env, workdir, "b-predictor")
        hello.wait("/healthz")
        constant.wait("/readyz")
        predictor.wait("/readyz")
        # (a), (b0) and (b) take turns, so a change in what else the machine runs hits all alike;
        # each row is the median of its rounds and each ratio the median of the rounds' ratios.
        turns = (("a", hello), ("b0", constant), ("b", predictor))
        rounds = [
            {key: measure(wrk, server, single, args.seconds, args.connections) for key, server in turns}
            for _ in range(args.rounds)
        ]
        hello.stop()
        constant.stop()
        for key, _ in turns:
            results[key] = median_row([r[key] for r in rounds])
        for key in ("b", "b0"):
            results[f"{key}/a"] = [r[key]["rps"] / r["a"]["rps"] for r in rounds]
        # Half of (b)'s measured maximum, offered as a rate: each connection waits C/rate seconds on
        # average (wrk's delay()) before every request, so C connections send about `half` req/s
        # (a little less, since each also waits for its responses; both rates are printed).
        half = results["b"]["rps"] / 2
        script = lua_script(workdir, 1, delay_ms=args.connections * 1000.0 / half)
        results["b_half"] = measure(wrk, predictor, script, args.seconds, args.connections)
        results["b_half"]["offered_rps"] = half

        # Logging throughput: 100 trips per request, rows counted in Postgres over the run.
        before, started = count_predictions(engine), time.monotonic()
        results["log"] = run_wrk(wrk, predictor.url, hundred, args.seconds, args.connections)
        in_window = count_predictions(engine) - before
        results["log"]["rows_per_s"] = in_window / (time.monotonic() - started)
        results["log"]["trips_per_s"] = results["log"]["rps"] * 100
        time.sleep(2)  # wrk leaves requests in flight when it stops: let them finish before counting
        served = metric_sum(predictor.url, "taxifare_predictor_predictions_total")
        dropped = metric_sum(predictor.url, "taxifare_predictor_logs_dropped_total")
        queued = metric_sum(predictor.url, 'taxifare_predictor_log_queue_rows{table="predictions"}')
        results["shutdown"] = {"seconds": predictor.stop(), "queued_at_stop": queued, "dropped": dropped}
        results["shutdown"]["lost"] = served - dropped - count_predictions(engine)

        naive = Server(
            "naive:app", {"DATABASE_URL": database_url, "MODEL_DIR": model_dir}, workdir, "c-naive"
        )
        naive.wait("/healthz")
        results["c"] = measure(wrk, naive, single, args.seconds, args.connections)
        naive.stop()
    finally:
        engine.dispose()
        drop_database()
        drop_constant()
    report(results, args)


def report(r: dict, args) -> None:
    print(f"\nserving benchmark: gunicorn gthread, {WORKERS} workers x {THREADS} threads; wrk 1 thread, {args.connections} "
          f"connections, {args.seconds:g} s per run, one trip per request; (a), (b0), (b): median of {args.rounds} alternating runs")  # fmt: skip
    print(f"{'':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for key, label in (("a", "(a) bare Flask hello"), ("b0", "(b0) (b), model call a constant"), ("b", "(b) predictor + Postgres logging"),
                       ("c", "(c) naive predict + INSERT/commit"), ("b_half", "(b) at half its max rate")):  # fmt: skip
        row = r[key]
        print(
            f"{label:<34}{row['rps']:>10.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row['non_2xx'] + row['socket_errors']:>10}"
        )
    print()
    for ratio, meaning in (("b/a", "target >= 0.5"), ("b0/a", "the most b/a can be with any model")):
        rounds = ", ".join(f"{value:.2f}" for value in r[ratio])
        print(f"{ratio} = {statistics.median(r[ratio]):.2f}   ({meaning}; median of the rounds {rounds})")
    print(f"b/c = {r['b']['rps'] / r['c']['rps']:.1f}   (target >= 30)")
    print(
        f"(b) offered {r['b_half']['offered_rps']:.0f} req/s (half of max), served {r['b_half']['rps']:.0f}: "
        f"p50 {r['b_half']['p50_ms']:.2f} ms, p99 {r['b_half']['p99_ms']:.2f} ms   (target p99 <= 10)"
    )
    log = r["log"]
    print(f"\nprediction logging, 100 trips per request: {log['trips_per_s']:.0f} trips/s served, "
          f"{log['rows_per_s']:.0f} rows/s written to Postgres during the run   (target >= 20000)")  # fmt: skip
    s = r["shutdown"]
    print(f"graceful shutdown: {s['queued_at_stop']:.0f} rows buffered at SIGTERM, {s['dropped']:.0f} dropped under "
          f"load, {s['lost']:.0f} served rows neither dropped nor in Postgres afterwards; took {s['seconds']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
