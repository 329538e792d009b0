import subprocess
import sys

import numpy as np
import pytest
import sqlalchemy as sa

from taxifare.core.db.tables import drift_checks
from taxifare.drift_checker.cli import main


@pytest.fixture
def drifted(settings_env, engine, reference, sim):
    """The live model and 300 drifted predictions in the hour before T0 + 1 h, in DATABASE_URL."""
    sim.add_live_model(engine, reference, promoted_at=sim.T0 - sim.hours(24 * 30))
    data = sim.trips(np.random.default_rng(1), 300, sim.COVARIATE_SHIFT)
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1))
    return engine


def test_writes_true_and_prints_the_reason(drifted, sim, tmp_path, capsys):
    output = tmp_path / "outputs" / "nested" / "needed"
    reason_output = tmp_path / "outputs" / "reason"

    code = main(
        [
            "is-retraining-needed",
            "--rule",
            "signals",
            "--now",
            "2026-01-05T01:00:00Z",
            "--window-hours",
            "2",
            "--output",
            str(output),
            "--reason-output",
            str(reason_output),
        ]
    )

    assert code == 0
    assert output.read_text() == "true"
    printed = capsys.readouterr().out
    assert printed.startswith("true: retraining needed: ")
    with drifted.connect() as conn:
        row = conn.execute(sa.select(drift_checks)).mappings().one()
    assert (row["decision"], row["window_end"], row["n_predictions"]) == (True, sim.T0 + sim.hours(1), 300)
    assert reason_output.read_text() == row["reason"] == printed.removeprefix("true: ").strip()


@pytest.mark.usefixtures("drifted")
def test_environment_sets_the_policy(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DRIFT_MIN_PREDICTIONS", "1000")
    monkeypatch.setenv("DRIFT_RULE", "signals")
    output = tmp_path / "needed"

    assert main(["is-retraining-needed", "--now", "2026-01-05T01:00:00", "--output", str(output)]) == 0

    assert output.read_text() == "false"
    assert "too few predictions: 300 < 1000" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "yesterday"], "not an ISO 8601 time: 'yesterday'"),
        (["--window-hours", "0"], "--window-hours / DRIFT_WINDOW_HOURS must be positive"),
        (["--min-predictions", "lots"], "invalid int value: 'lots'"),
        (
            ["--training-runs", "{not json"],
            "--training-runs is not the JSON object `taxifare-trigger in-flight` writes",
        ),
        (["--training-runs", '{"in_flight": true}'], "KeyError: 'pipeline'"),
    ],
)
def test_bad_arguments_are_named_without_a_traceback(tmp_path, args, message):
    output = tmp_path / "needed"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taxifare.drift_checker.cli",
            "is-retraining-needed",
            "--output",
            str(output),
            *args,
        ],
        capture_output=True,
        check=False,
        text=True,
        env={"TAXIFARE_STATE_DIR": str(tmp_path / "state"), "PATH": ""},
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not output.exists()


def test_an_unmigrated_database_is_a_clear_error(tmp_path):
    output = tmp_path / "needed"
    done = subprocess.run(
        [sys.executable, "-m", "taxifare.drift_checker.cli", "is-retraining-needed", "--output", str(output)],
        capture_output=True,
        check=False,
        text=True,
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "PATH": ""},
    )
    assert done.returncode == 1
    assert "is the database migrated? taxifare-db upgrade" in done.stderr
    assert "Traceback" not in done.stderr
    assert not output.exists()
