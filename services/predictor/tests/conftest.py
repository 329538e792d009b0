"""Fixtures: a tiny exported model with the contract's `serve` signature, the registry, a real server."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from taxifare.core import clock, storage
from taxifare.core.db import tables
from taxifare.core.db.engine import connect_engine

# A valid trip: midtown Manhattan to LaGuardia on a June evening.
TRIP = {
    "pickup_datetime": "2015-06-30T18:05:00",
    "pickup_longitude": -73.98,
    "pickup_latitude": 40.75,
    "dropoff_longitude": -73.87,
    "dropoff_latitude": 40.77,
    "passenger_count": 2,
}

INPUT_DTYPES = {
    "pickup_timestamp": "float64",
    "pickup_longitude": "float32",
    "pickup_latitude": "float32",
    "dropoff_longitude": "float32",
    "dropoff_latitude": "float32",
    "passenger_count": "float32",
}


def export_tiny_model(directory: Path, base_fare: float) -> None:
    """A linear model of the straight-line distance, exported like the trainer exports its models."""
    import keras
    import tensorflow as tf

    inputs = {name: keras.Input(shape=(), dtype=dtype, name=name) for name, dtype in INPUT_DTYPES.items()}
    dx = (inputs["dropoff_longitude"] - inputs["pickup_longitude"]) * 84.0
    dy = (inputs["dropoff_latitude"] - inputs["pickup_latitude"]) * 111.0
    km = keras.ops.sqrt(dx * dx + dy * dy)
    fare = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")(
        keras.ops.stack([km], -1)
    )
    model = keras.Model(inputs, keras.ops.squeeze(fare, -1) * 1.5 + base_fare)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda *args: model(dict(zip(INPUT_DTYPES, args, strict=True)), training=False),
        input_signature=[tf.TensorSpec([None], dtype, name=name) for name, dtype in INPUT_DTYPES.items()],
    )
    archive.write_out(str(directory / "saved_model"), verbose=False)


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Two exported models that differ in their base fare, so a swap shows in the predictions."""
    dirs = {}
    for name, base in (("a", 3.0), ("b", 30.0)):
        directory = tmp_path_factory.mktemp(f"model-{name}")
        export_tiny_model(directory, base)
        dirs[name] = directory
    return dirs


class Registry:
    """Publishes model folders and writes model_versions rows, as the trainer and deployer do."""

    def __init__(self, database_url: str, store: Path):
        self.engine = connect_engine(database_url)
        self.store = store

    def register(
        self,
        version: str,
        model_dir: Path,
        status: str = "candidate",
        rmse: float = 4.2,
        input_bounds: dict | None = None,
    ) -> str:
        uri = str(self.store / version)
        storage.publish_dir(model_dir, uri)
        with self.engine.begin() as conn:
            conn.execute(
                tables.model_versions.insert().values(
                    version=version,
                    created_at=clock.utcnow(),
                    model_uri=uri,
                    status=status,
                    eval_rmse=rmse,
                    input_bounds=input_bounds,
                )
            )
        return uri

    def register_broken(self, version: str, tmp_path: Path) -> None:
        broken = tmp_path / f"broken-{version}"
        (broken / "saved_model").mkdir(parents=True)
        (broken / "saved_model" / "saved_model.pb").write_bytes(b"not a SavedModel")
        self.register(version, broken)

    def promote(self, version: str) -> None:
        mv = tables.model_versions
        with self.engine.begin() as conn:
            conn.execute(mv.update().where(mv.c.status == "live").values(status="retired"))
            conn.execute(
                mv.update().where(mv.c.version == version).values(status="live", promoted_at=clock.utcnow())
            )

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

    def rows(self, table: sa.Table) -> list:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(table)).all()


@pytest.fixture
def registry(settings_env):
    reg = Registry(settings_env.database_url, Path(settings_env.model_store_uri))
    yield reg
    reg.engine.dispose()


class PredictorServer:
    """The real `taxifare-predictor` (gunicorn) on a free port."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, workers: int = 2):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "taxifare.predictor", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until("/healthz", 200)

    def wait_until(
        self, path: str, status: int, timeout: float = 120, all_workers: bool = False, body=lambda _: True
    ) -> None:
        """Poll until `path` answers `status` with a JSON body `body` accepts (several times in a row
        with all_workers, as each request may reach another worker)."""
        deadline, streak = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"predictor exited: {self.log()}"
            try:
                response = requests.get(self.url + path, timeout=30)
                ok = response.status_code == status and body(response.json())
            except requests.RequestException:
                ok = False
            streak = streak + 1 if ok else 0
            if streak >= (20 if all_workers else 1):
                return
            time.sleep(0.05 if ok else 0.2)
        raise AssertionError(f"{path} never answered {status} with the expected body; log:\n{self.log()}")

    def metric(self, name: str, **labels) -> float:
        """Sum of a metric's samples whose labels include `labels` (0 when absent)."""
        total = 0.0
        for line in requests.get(self.url + "/metrics", timeout=5).text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()


@pytest.fixture
def start_predictor(settings_env, free_port, tmp_path):
    servers = []

    def start(workers: int = 2, **extra_env) -> PredictorServer:
        env = {
            **os.environ,
            "PREDICTOR_POLL_SECONDS": "0.3",
            "PREDICTOR_LOG_FLUSH_MS": "50",
            **extra_env,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the gunicorn config makes a fresh one
        server = PredictorServer(free_port, env, tmp_path / f"predictor-{len(servers)}.log", workers)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
