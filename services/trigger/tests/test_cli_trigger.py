"""`taxifare-trigger run | schedule | upload | schedule-kfp` as real processes, on a real database."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import sample_components as p
import sqlalchemy as sa
from kfp import dsl
from kfp_fake import fake_kfp_for_clients

from taxifare.core.config import load_settings
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import pipeline_runs
from taxifare.trigger.cli import main

CLI = str(Path(sys.executable).parent / "taxifare-trigger")
TOKEN = "cli-token-value"


@dsl.container_component
def nap(seconds: float):
    return p.python("import sys, time; time.sleep(float(sys.argv[1])); print('rested')", seconds)


@dsl.pipeline(name="taxi-fare-predictor")
def napping(seconds: float = 0.0):
    nap(seconds=seconds)


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch, sqlite_url):
    monkeypatch.setenv("TAXIFARE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return load_settings()


@pytest.fixture
def pipelines_dir(tmp_path, compile_pipeline, monkeypatch):
    """A TAXIFARE_PIPELINES_DIR holding the napping pipeline under the predictor's file name."""
    folder = tmp_path / "compiled"
    folder.mkdir()
    compile_pipeline(napping).rename(folder / "taxi_fare_predictor.yaml")
    monkeypatch.setenv("TAXIFARE_PIPELINES_DIR", str(folder))
    return folder


@pytest.fixture
def fake_kfp(free_port, monkeypatch, tmp_path):
    with fake_kfp_for_clients(free_port, monkeypatch, tmp_path / "home", TOKEN) as fake:
        yield fake


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], check=False, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli(capsys):
    """The CLI in this process (kfp is imported once, not once a process), for the KFP cases."""
    handler, root_handlers = signal.getsignal(signal.SIGTERM), list(logging.getLogger().handlers)

    def call(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["taxifare-trigger", *args], code, captured.out, captured.err)

    yield call
    signal.signal(signal.SIGTERM, handler)
    logging.getLogger().handlers[:] = root_handlers


def rows(database_url: str) -> list[dict]:
    engine = connect_engine(database_url)
    with engine.connect() as conn:
        result = conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).mappings().all()
    engine.dispose()
    return [dict(r) for r in result]


def test_run_local_executes_the_named_pipeline_and_records_it(pipelines_dir, sqlite_env, tmp_path):
    out = tmp_path / "out" / "run_id"
    result = run_cli(
        "run", "taxi-fare-predictor", "--param", "seconds=0", "--reason", "drift: mean gap 0.4",
        "--triggered-by", "retraining-checker", "--output-run-id", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[nap] rested" in result.stderr
    (row,) = rows(sqlite_env.database_url)
    assert row["status"] == "succeeded"
    assert (row["reason"], row["triggered_by"]) == ("drift: mean gap 0.4", "retraining-checker")
    assert row["parameters"] == {"seconds": "0"}
    assert row["external_run_id"] == out.read_text()
    assert (sqlite_env.runs_dir / row["external_run_id"] / "run.json").is_file()
    assert f"run {row['id']} succeeded" in result.stdout


def test_two_triggers_at_once_run_the_pipeline_once(pipelines_dir, settings_env):
    """Two checkers trigger retraining at the same moment: one run, one 'skipped: run X in flight'."""
    args = [CLI, "run", "taxi-fare-predictor", "--param", "seconds=3", "--triggered-by", "checker"]
    processes = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    statuses = sorted(r["status"] for r in rows(settings_env.database_url))
    assert statuses == ["skipped", "succeeded"]
    started, skipped = sorted(rows(settings_env.database_url), key=lambda r: r["status"] == "skipped")
    assert skipped["message"].startswith(f"skipped: run {started['id']}")
    assert any("in flight" in out for out, _ in outputs)


def test_an_unknown_pipeline_is_a_clear_error_and_a_failed_row(sqlite_env, pipelines_dir):
    result = run_cli("run", "taxi-fair-predictor")
    assert result.returncode == 1
    assert (
        "unknown pipeline 'taxi-fair-predictor' (known: retraining-checker, taxi-fare-predictor"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    (row,) = rows(sqlite_env.database_url)
    assert row["status"] == "failed" and "unknown pipeline" in row["message"]


def test_a_missing_compiled_file_says_how_to_make_it(sqlite_env, tmp_path, monkeypatch):
    monkeypatch.setenv("TAXIFARE_PIPELINES_DIR", str(tmp_path / "empty"))
    result = run_cli("run", "retraining-checker")
    assert result.returncode == 1
    assert "retraining_checker.yaml" in result.stderr and "make compile" in result.stderr
    assert rows(sqlite_env.database_url)[0]["status"] == "failed"


def test_parameters_may_come_as_one_json_object_and_param_wins(pipelines_dir, sqlite_env):
    result = run_cli(
        "run", "taxi-fare-predictor", "--params-json", '{"seconds": 5}', "--param", "seconds=0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = rows(sqlite_env.database_url)
    assert row["status"] == "succeeded"
    assert row["parameters"] == {"seconds": "0"}


@pytest.mark.parametrize(
    ("text", "message"), [("{not json", "is not JSON"), ("[1, 2]", "must be a JSON object")]
)
def test_bad_json_parameters_are_refused_before_anything_runs(sqlite_env, text, message):
    result = run_cli("run", "taxi-fare-predictor", "--params-json", text)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert rows(sqlite_env.database_url) == []


def test_kfp_options_with_the_local_backend_are_refused(sqlite_env):
    result = run_cli("run", "taxi-fare-predictor", "--host", "http://127.0.0.1:1")
    assert result.returncode == 1
    assert "--host only apply with --backend kfp" in result.stderr
    assert rows(sqlite_env.database_url) == []


def test_run_on_kfp_blocks_while_in_flight_and_sees_the_run_finish(fake_kfp, pipelines_dir, sqlite_env, cli):
    kfp = ["--backend", "kfp", "--host", fake_kfp.url, "--experiment", "retraining"]
    first = cli("run", "taxi-fare-predictor", *kfp, "--param", "seconds=1", "--reason", "drift")
    assert first.returncode == 0, first.stderr
    (run_id,) = fake_kfp.runs
    (row,) = rows(sqlite_env.database_url)
    assert (row["status"], row["backend"], row["external_run_id"]) == ("running", "kfp", run_id)
    assert fake_kfp.runs[run_id]["runtime_config"]["parameters"] == {"seconds": "1"}
    assert TOKEN not in first.stdout + first.stderr

    second = cli("run", "taxi-fare-predictor", *kfp)
    assert second.returncode == 0, second.stderr
    assert f"skipped: run {row['id']} ({run_id}) in flight" in second.stdout
    assert len(fake_kfp.runs) == 1

    fake_kfp.runs[run_id]["state"] = "SUCCEEDED"
    third = cli("run", "taxi-fare-predictor", *kfp)
    assert third.returncode == 0, third.stderr
    assert [r["status"] for r in rows(sqlite_env.database_url)] == ["succeeded", "skipped", "running"]
    assert len(fake_kfp.runs) == 2


def test_an_unreachable_kfp_is_a_clear_error_and_a_failed_row(sqlite_env, pipelines_dir, free_port, cli):
    result = cli("run", "taxi-fare-predictor", "--backend", "kfp", "--host", f"http://127.0.0.1:{free_port}")
    assert result.returncode == 1
    assert f"cannot reach KFP at http://127.0.0.1:{free_port}" in result.stderr
    assert "Traceback" not in result.stderr
    (row,) = rows(sqlite_env.database_url)
    assert row["status"] == "failed" and "cannot reach KFP" in row["message"]


def test_upload_and_schedule_on_kfp(fake_kfp, pipelines_dir, cli):
    uploaded = cli("upload", "taxi-fare-predictor", "--host", fake_kfp.url, "--version", "v1")
    assert uploaded.returncode == 0, uploaded.stderr
    (pipeline_id,) = fake_kfp.pipelines
    assert f"pipeline_id={pipeline_id}" in uploaded.stdout

    scheduled = cli("schedule-kfp", "taxi-fare-predictor", "--host", fake_kfp.url, "--cron", "0 0 3 * * *")
    assert scheduled.returncode == 0, scheduled.stderr
    (recurring,) = fake_kfp.recurring_runs.values()
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert recurring["recurring_run_id"] in scheduled.stdout


def test_a_bad_cron_is_refused_before_kfp_is_called(fake_kfp, cli):
    result = cli("schedule-kfp", "retraining-checker", "--host", fake_kfp.url, "--cron", "0 3 * * *")
    assert result.returncode == 1
    assert "has 5 fields; KFP wants 6 with seconds first, e.g. '0 0 3 * * *'" in result.stderr
    assert fake_kfp.requests == []


def test_schedule_runs_every_n_seconds_up_to_max_runs(pipelines_dir, sqlite_env):
    result = run_cli("schedule", "taxi-fare-predictor", "--every", "0.5", "--max-runs", "2")
    assert result.returncode == 0, result.stderr
    recorded = rows(sqlite_env.database_url)
    assert [(r["status"], r["triggered_by"]) for r in recorded] == [("succeeded", "schedule")] * 2
    assert recorded[0]["reason"] == "scheduled every 0.5 s"


@pytest.mark.slow
def test_schedule_stops_cleanly_on_sigterm(pipelines_dir, sqlite_env):
    process = subprocess.Popen(
        [CLI, "schedule", "taxi-fare-predictor", "--every", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(r["status"] == "succeeded" for r in rows(sqlite_env.database_url)):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "schedule stopped after 1 trigger(s)" in stderr
    assert [r["status"] for r in rows(sqlite_env.database_url)] == ["succeeded"]


def in_flight(cli, tmp_path, *args: str) -> dict:
    output = tmp_path / "in-flight.json"
    result = cli("in-flight", "taxi-fare-predictor", *args, "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(output.read_text())
    return json.loads(output.read_text())


def test_in_flight_asks_kfp_so_a_run_that_ended_no_longer_blocks(
    fake_kfp, pipelines_dir, sqlite_env, cli, tmp_path
):
    kfp = ["--backend", "kfp", "--host", fake_kfp.url]
    assert cli("run", "taxi-fare-predictor", *kfp, "--now", "2026-03-01T10:00:00").returncode == 0
    (run_id,) = fake_kfp.runs
    (row,) = rows(sqlite_env.database_url)

    # Still running on the cluster two hours later: in flight.
    running = in_flight(cli, tmp_path, *kfp, "--now", "2026-03-01T12:00:00")
    assert running["in_flight"] and running["run_id"] == row["id"] and running["external_run_id"] == run_id
    assert running["status"] == "running" and running["note"] is None

    # It succeeded an hour ago: the trigger asks KFP, records the outcome, and nothing blocks.
    fake_kfp.runs[run_id]["state"] = "SUCCEEDED"
    ended = in_flight(cli, tmp_path, *kfp, "--now", "2026-03-01T12:00:00")
    assert not ended["in_flight"] and ended["run_id"] is None
    assert ended["newest_recorded_at"] == "2026-03-01T10:00:00"
    assert [r["status"] for r in rows(sqlite_env.database_url)] == ["succeeded"]
    assert fake_kfp.calls("GET", f"/runs/{run_id}")


def test_in_flight_applies_the_one_staleness_rule(pipelines_dir, sqlite_env, cli, tmp_path):
    engine = connect_engine(sqlite_env.database_url)
    with engine.begin() as conn:
        conn.execute(pipeline_runs.insert().values(
            pipeline="taxi-fare-predictor", backend="local-host", status="running",
            created_at=datetime(2026, 3, 1, 3), started_at=datetime(2026, 3, 1, 3),
        ))  # fmt: skip
    engine.dispose()
    assert in_flight(cli, tmp_path, "--now", "2026-03-01T08:00:00", "--stale-after-hours", "6")["in_flight"]
    stale = in_flight(cli, tmp_path, "--now", "2026-03-01T10:00:00", "--stale-after-hours", "6")
    assert not stale["in_flight"]
    (row,) = rows(sqlite_env.database_url)
    assert row["status"] == "failed" and row["message"].startswith("stale: in flight for more than 6 h")


def test_in_flight_without_kfp_answers_from_the_records_and_says_so(
    sqlite_env, pipelines_dir, free_port, cli, tmp_path
):
    answer = in_flight(cli, tmp_path, "--backend", "kfp", "--host", f"http://127.0.0.1:{free_port}")
    assert not answer["in_flight"]
    assert answer["note"].startswith("KFP not asked, run states as last recorded: cannot reach KFP at")
