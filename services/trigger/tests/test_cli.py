"""`taxifare-trigger run-local` as a user runs it: a real process, real database, real signals."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sample_components as p
import sqlalchemy as sa
from kfp import dsl

from taxifare.core.config import load_settings
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import pipeline_runs

CLI = str(Path(sys.executable).parent / "taxifare-trigger")


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch, sqlite_url):
    """The CLI's environment on SQLite only, for cases where the database backend does not matter."""
    monkeypatch.setenv("TAXIFARE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return load_settings()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], check=False, capture_output=True, text=True, timeout=120)


def statuses(database_url: str) -> list[tuple[str, str]]:
    engine = connect_engine(database_url)
    with engine.connect() as conn:
        result = conn.execute(sa.select(pipeline_runs.c.status, pipeline_runs.c.message)).all()
    engine.dispose()
    return [tuple(r) for r in result]


@dsl.pipeline(name="cli-gate")
def gate(value: float = 1.0):
    check = p.decide(value=value, threshold=0.5)
    with dsl.If(check.output == "true"):
        p.say(message="deployed")


def test_run_local_succeeds_streams_output_and_records(compile_pipeline, settings_env):
    result = run_cli("run-local", str(compile_pipeline(gate)), "--param", "value=0.7")
    assert result.returncode == 0, result.stderr
    assert "[condition-1/say] deployed" in result.stderr
    assert "succeeded" in result.stdout
    run_dir = Path(result.stdout.rsplit("(", 1)[1].rstrip(")\n"))
    assert run_dir.parent == settings_env.runs_dir
    assert (run_dir / "condition-1" / "say" / "log.txt").read_text() == "deployed\n"
    assert statuses(settings_env.database_url) == [
        ("succeeded", "2 step(s) succeeded, 0 skipped by conditions")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "value"], "expected NAME=VALUE, got 'value'"),
        (["--param", "value=high"], "parameter 'value': 'high' is not a valid NUMBER_DOUBLE"),
        (["--param", "speed=1"], "unknown pipeline parameter(s) speed; known: value"),
    ],
)
def test_bad_parameters_exit_non_zero_without_traceback(compile_pipeline, sqlite_env, args, message):
    result = run_cli("run-local", str(compile_pipeline(gate)), *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_is_reported(sqlite_env, tmp_path):
    result = run_cli("run-local", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_failed_step_is_reported_and_recorded(compile_pipeline, settings_env):
    @dsl.pipeline(name="cli-failing")
    def failing():
        p.fail(message="too few rows in the window", code=2)

    result = run_cli("run-local", str(compile_pipeline(failing)))
    assert result.returncode == 1
    assert "step 'fail' failed: exit code 2" in result.stderr
    assert "too few rows in the window" in result.stderr
    assert "Traceback" not in result.stderr
    ((status, message),) = statuses(settings_env.database_url)
    assert status == "failed"
    assert "too few rows in the window" in message


@pytest.mark.slow
def test_sigterm_stops_the_step_and_records_the_run_as_failed(compile_pipeline, sqlite_env, tmp_path):
    @dsl.container_component
    def sleepy(pid_file: str):
        return p.python(
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
            "print('sleeping', flush=True); time.sleep(120)",
            pid_file,
        )

    @dsl.pipeline(name="cli-sleepy")
    def sleeping(pid_file: str):
        sleepy(pid_file=pid_file)

    pid_file = tmp_path / "step.pid"
    process = subprocess.Popen(
        [CLI, "run-local", str(compile_pipeline(sleeping)), "--param", f"pid_file={pid_file}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    step_pid = int(pid_file.read_text())
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "interrupted" in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(step_pid, 0)
    assert statuses(sqlite_env.database_url) == [("failed", "interrupted (KeyboardInterrupt)")]
