import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from taxifare.core.db import tables
from taxifare.core.db.engine import connect_engine
from taxifare.core.trips import DataStore

from .conftest import NOW


def traffic_gen(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "taxifare.traffic_gen", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "exactly one of --count or --duration"),
        (["--count", "5", "--duration", "3"], "exactly one of"),
        (["--count", "0"], "--count must be at least 1"),
        (["--count", "5", "--mode", "chaos"], "invalid choice"),
        (["--count", "5", "--now", "tomorrow"], "not an ISO 8601 time"),
        (["--count", "5", "--concurrency", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, words):
    result = traffic_gen(*args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


def test_unreachable_predictor_exits_3(free_port, settings_env):
    result = traffic_gen("--count", "1", "--url", f"http://127.0.0.1:{free_port}", "--wait-ready", "0.5")
    assert result.returncode == 3
    assert "not ready" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_normal_and_drift_traffic_against_the_real_predictor(predictor_url, settings_env):
    engine = connect_engine(settings_env.database_url)
    runs = {}
    for mode, seed in (("normal", 1), ("drift", 2)):
        result = traffic_gen(
            "--url", predictor_url, "--mode", mode, "--count", "40", "--batch-size", "5", "--rate", "40",
            "--concurrency", "4", "--now", NOW.isoformat(), "--seed", str(seed), "--progress-seconds", "0.2",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads(result.stdout)
        assert summary["requests_ok"] == 40 and summary["errors_by_status"] == {}
        assert (
            summary["trips_sent"] == 200
            and summary["actuals_posted"] == 200
            and summary["trips_landed"] == 200
        )
        assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
        assert "errors by status: none" in result.stderr and "sent " in result.stderr
        runs[mode] = summary

    assert DataStore(settings_env.data_uri).row_count() == 400

    def logged():
        with engine.connect() as conn:
            return (
                conn.execute(sa.select(sa.func.count()).select_from(tables.actuals)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(tables.predictions)).scalar_one(),
            )

    deadline = time.monotonic() + 30
    while logged() != (400, 400):
        assert time.monotonic() < deadline, logged()
        time.sleep(0.2)
    with engine.connect() as conn:
        joined = conn.execute(
            sa.select(sa.func.count()).select_from(
                tables.predictions.join(
                    tables.actuals, tables.predictions.c.request_id == tables.actuals.c.request_id
                )
            )
        ).scalar_one()
        distance = dict(
            conn.execute(
                sa.select(
                    sa.func.substr(tables.predictions.c.request_id, 1, 12),
                    sa.func.avg(tables.predictions.c.distance_km),
                ).group_by(sa.func.substr(tables.predictions.c.request_id, 1, 12))
            ).all()
        )
    engine.dispose()
    assert joined == 400  # every prediction has its actual fare
    assert len(distance) == 2 and max(distance.values()) > 1.5 * min(distance.values())
