"""A real predictor serving a model the trainer trained on generated trips, for the traffic to hit."""

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from taxifare.core import clock, synth
from taxifare.core.db import tables
from taxifare.core.db.engine import connect_engine
from taxifare.core.trips import DataStore

NOW = datetime(2015, 3, 31, 23, 0)


@pytest.fixture(scope="session")
def trained_model_uri(tmp_path_factory) -> str:
    """A model from `taxifare-trainer train` on a month of generated trips (a few epochs)."""
    trainer = shutil.which("taxifare-trainer", path=str(Path(sys.executable).parent))
    if trainer is None:
        pytest.skip("taxifare-trainer is not installed (pip install -e services/trainer)")
    root = tmp_path_factory.mktemp("trained")
    DataStore(root / "data").append(synth.generate(3000, datetime(2015, 3, 1), NOW, seed=7))
    result = subprocess.run(
        [trainer, "train", "--data-uri", str(root / "data"), "--model-store-uri", str(root / "models"),
         "--train-days", "28", "--eval-days", "3", "--epochs", "3", "--now", NOW.isoformat(),
         "--version", "trained-1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return str(root / "models" / "trained-1")


@pytest.fixture
def live_model(settings_env, trained_model_uri) -> str:
    engine = connect_engine(settings_env.database_url)
    with engine.begin() as conn:
        conn.execute(
            tables.model_versions.insert().values(
                version="trained-1", created_at=clock.utcnow(), model_uri=trained_model_uri, status="live"
            )
        )
    engine.dispose()
    return "trained-1"


@pytest.fixture
def predictor_url(settings_env, live_model, free_port, tmp_path):
    """`taxifare-predictor` under gunicorn on a free port, ready to serve the live model."""
    url = f"http://127.0.0.1:{free_port}"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PREDICTOR_POLL_SECONDS="0.5", PREDICTOR_LOG_FLUSH_MS="50")
    with (tmp_path / "predictor.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "taxifare.predictor", "--port", str(free_port), "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline, streak = time.monotonic() + 240, 0
            while streak < 10:  # several answers in a row: both workers have the model
                assert process.poll() is None, (tmp_path / "predictor.log").read_text()[-3000:]
                assert time.monotonic() < deadline, (tmp_path / "predictor.log").read_text()[-3000:]
                try:
                    ready = requests.get(url + "/readyz", timeout=30).status_code == 200
                except requests.RequestException:
                    ready = False
                streak = streak + 1 if ready else 0
                time.sleep(0.05 if ready else 0.3)
            yield url
        finally:
            process.terminate()
            process.wait(60)
