"""The taxi-fare-predictor pipeline, compiled, executed by the local runner with the real services."""

import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import deploy_decisions, model_versions, pipeline_runs

pytestmark = pytest.mark.slow

TODAY = date(2026, 3, 1)
FAST = ["train_days=14", "eval_days=3", "epochs=12", "min_rows=300"]


BIN = Path(sys.executable).parent  # the console scripts of the installed services


def _run(command: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = [str(BIN / command), *args]
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def _generate(rows: int, start: date, end: date, *extra: str) -> None:
    _run(
        "taxifare-data",
        "generate",
        "--rows",
        str(rows),
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--seed",
        str(rows),
        "--no-progress",
        *extra,
    )


def _train(now: date, check: bool = True) -> subprocess.CompletedProcess:
    params = [arg for p in [*FAST, f"now={now.isoformat()}T00:00:00"] for arg in ("--param", p)]
    return _run(
        "taxifare-trigger",
        "run",
        "taxi-fare-predictor",
        "--backend",
        "local",
        "--reason",
        "test",
        "--triggered-by",
        "pytest",
        *params,
        check=check,
    )


def _versions(engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(model_versions.c.version, model_versions.c.status).order_by(model_versions.c.id)
        ).all()
    return dict(rows)


def _statuses(engine, status: str) -> list[str]:
    return [v for v, s in _versions(engine).items() if s == status]


def test_deploys_v1_keeps_it_when_nothing_changed_and_deploys_v2_after_a_fare_increase(settings_env):
    engine = connect_engine(settings_env.database_url)
    _generate(6000, TODAY - timedelta(days=20), TODAY - timedelta(days=1))

    _train(TODAY)
    [v1] = _statuses(engine, "live")

    _train(TODAY)  # same data: the new candidate cannot be better by the margin
    assert _statuses(engine, "live") == [v1]
    assert len(_statuses(engine, "rejected")) == 1

    # A fare increase lands: ten days of trips priced on the next rate card.
    shift = TODAY + timedelta(days=1)
    _generate(
        6000, shift, shift + timedelta(days=9), "--scenario", "concept", "--shift-date", shift.isoformat()
    )
    _train(shift + timedelta(days=10))
    [v2] = _statuses(engine, "live")
    assert v2 != v1
    assert _versions(engine)[v1] == "retired"

    with engine.connect() as conn:
        decisions = conn.execute(sa.select(deploy_decisions).order_by(deploy_decisions.c.id)).all()
        runs = conn.execute(sa.select(pipeline_runs.c.status)).scalars().all()
    assert [d.decision for d in decisions] == [True, False, True]
    assert decisions[2].live_version == v1 and decisions[2].candidate_version == v2
    assert runs == ["succeeded"] * 3
    engine.dispose()


def test_an_empty_data_window_fails_at_train_and_registers_nothing(settings_env):
    result = _train(TODAY, check=False)
    assert result.returncode != 0
    assert "train" in result.stderr
    assert "rows" in result.stderr  # the trainer's message says the window holds too few rows
    engine = connect_engine(settings_env.database_url)
    assert _versions(engine) == {}
    with engine.connect() as conn:
        [status] = conn.execute(sa.select(pipeline_runs.c.status)).scalars().all()
    assert status == "failed"
    engine.dispose()


def test_a_candidate_with_a_corrupt_artifact_is_never_promoted(settings_env):
    engine = connect_engine(settings_env.database_url)
    _generate(4000, TODAY - timedelta(days=20), TODAY - timedelta(days=1))
    trained = _run(
        "taxifare-trainer",
        "train",
        "--train-days",
        "14",
        "--eval-days",
        "3",
        "--epochs",
        "5",
        "--min-rows",
        "300",
        "--now",
        f"{TODAY.isoformat()}T00:00:00",
        "--output-model-uri",
        str(Path(settings_env.state_dir) / "uri"),
        "--output-metrics",
        str(Path(settings_env.state_dir) / "metrics.json"),
    )
    assert trained.returncode == 0
    model_dir = Path((Path(settings_env.state_dir) / "uri").read_text().strip())
    variables = next(model_dir.rglob("variables.data*"))
    variables.write_bytes(b"corrupted" + variables.read_bytes()[9:])
    _run(
        "taxifare-metrics-writer",
        "write",
        "--metrics",
        str(Path(settings_env.state_dir) / "metrics.json"),
        "--pipeline-run-id",
        "corrupt-test",
        "--output-version",
        str(Path(settings_env.state_dir) / "version"),
    )
    version = (Path(settings_env.state_dir) / "version").read_text().strip()

    refused = _run("taxifare-deployer", "deploy", "--version", version, check=False)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert _statuses(engine, "live") == []
    engine.dispose()


def test_killing_the_pipeline_mid_way_leaves_the_registry_consistent(settings_env):
    engine = connect_engine(settings_env.database_url)
    _generate(4000, TODAY - timedelta(days=20), TODAY - timedelta(days=1))
    params = [arg for p in [*FAST, f"now={TODAY.isoformat()}T00:00:00"] for arg in ("--param", p)]
    run = subprocess.Popen(
        [str(BIN / "taxifare-trigger"), "run", "taxi-fare-predictor", "--backend", "local", *params],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Stop it while it trains: the step has started once a run is recorded as running and a while passed.
    for _ in range(600):
        with engine.connect() as conn:
            status = conn.execute(sa.select(pipeline_runs.c.status)).scalar()
        if status == "running":
            break
        time.sleep(0.1)
    time.sleep(3)
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0, output

    with engine.connect() as conn:
        assert conn.execute(sa.select(pipeline_runs.c.status)).scalars().all() == ["failed"]
    assert _statuses(engine, "live") == []
    models = Path(settings_env.model_store_uri)
    half_published = [d for d in models.glob("*") if d.is_dir() and not (d / "_SUCCESS").exists()]
    assert half_published == []

    _train(TODAY)  # the next run is not blocked by the killed one and deploys
    assert len(_statuses(engine, "live")) == 1
    engine.dispose()
