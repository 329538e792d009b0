import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db.tables import model_versions
from taxifare.deployer.cli import main


def statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(model_versions.c.version, model_versions.c.status)).all())


def test_deploy_promotes_and_retires_the_previous_live_version(models, engine, capsys):
    models.candidate("v1", rmse=4.0)
    models.candidate("v2", rmse=3.0)
    assert main(["deploy", "--version", "v1"]) == 0
    assert main(["deploy", "--version", "v2"]) == 0
    out = capsys.readouterr().out
    assert "v1 is live (there was no live version before)" in out
    assert "v2 is live; v1 is retired" in out
    assert statuses(engine) == {"v1": "retired", "v2": "live"}


def test_deploy_is_idempotent(models, engine, capsys):
    models.candidate("v1", rmse=4.0)
    assert main(["deploy", "--version", "v1"]) == 0
    assert main(["deploy", "--version", "v1"]) == 0
    assert "v1 is already live; nothing changed" in capsys.readouterr().out
    assert statuses(engine) == {"v1": "live"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "saved_model" / "saved_model.pb").write_bytes(b"flipped bits"),
            "is corrupt: 'saved_model/saved_model.pb'",
        ),
        (lambda d: (d / "saved_model" / "saved_model.pb").unlink(), "is incomplete"),
        (lambda d: (d / "_SUCCESS").unlink(), "is not published: no _SUCCESS marker"),
        (lambda d: (d / "MANIFEST.json").write_text("{"), "has no readable MANIFEST.json"),
    ],
)
def test_a_corrupt_artifact_is_never_promoted(models, engine, capsys, damage, message):
    models.candidate("v1", rmse=4.0)
    models.candidate("v2", rmse=3.0)
    assert main(["deploy", "--version", "v1"]) == 0
    damage(Path(models.model_store) / "v2")
    assert main(["deploy", "--version", "v2"]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "refusing to make v2 live" in err and "the registry is unchanged" in err
    assert statuses(engine) == {"v1": "live", "v2": "candidate"}


def test_a_missing_artifact_is_never_promoted(models, engine, capsys):
    models.candidate("v1", rmse=4.0)
    shutil.rmtree(Path(models.model_store) / "v1")
    assert main(["deploy", "--version", "v1"]) == 1
    assert "not published" in capsys.readouterr().err
    assert statuses(engine) == {"v1": "candidate"}


def test_deploy_refuses_unknown_and_rejected_versions(models, engine, capsys):
    assert main(["deploy", "--version", "nope"]) == 1
    assert "no model version 'nope' in the registry" in capsys.readouterr().err
    metrics = models.candidate("v1", rmse=100.0)
    live = models.live_metrics(None)
    output = models.root / "decision"
    args = [
        "check-deploy",
        "--candidate-metrics",
        str(metrics),
        "--live-metrics",
        str(live),
        "--output",
        str(output),
    ]
    assert main(args) == 0 and output.read_text() == "false"
    assert main(["deploy", "--version", "v1"]) == 1
    assert "v1' was rejected and cannot be promoted" in capsys.readouterr().err
    assert statuses(engine) == {"v1": "rejected"}


def test_rollback_makes_the_previous_live_version_live_again(models, engine, capsys):
    for version in ("v1", "v2"):
        models.candidate(version, rmse=4.0)
        assert main(["deploy", "--version", version]) == 0
    assert main(["rollback"]) == 0
    assert "rolled back: v1 is live again; v2 is rejected" in capsys.readouterr().out
    assert statuses(engine) == {"v1": "live", "v2": "rejected"}


def test_rollback_with_nothing_to_roll_back_to(models, engine, capsys):
    assert main(["rollback"]) == 1
    assert "there is no live version to roll back" in capsys.readouterr().err
    models.candidate("v1", rmse=4.0)
    assert main(["deploy", "--version", "v1"]) == 0
    assert main(["rollback"]) == 1
    assert "v1 is the only version ever live; there is no previous version" in capsys.readouterr().err
    assert statuses(engine) == {"v1": "live"}


def test_rollback_refuses_a_previous_version_whose_artifact_is_gone(models, engine, capsys):
    for version in ("v1", "v2"):
        models.candidate(version, rmse=4.0)
        assert main(["deploy", "--version", version]) == 0
    (Path(models.model_store) / "v1" / "_SUCCESS").unlink()
    assert main(["rollback"]) == 1
    assert "refusing to make v1 live" in capsys.readouterr().err
    assert statuses(engine) == {"v1": "retired", "v2": "live"}


@pytest.mark.slow
def test_concurrent_deployers_leave_exactly_one_live_version(models, engine):
    versions = [f"v{i}" for i in range(4)]
    for version in versions:
        models.candidate(version, rmse=4.0)
    deployers = [
        subprocess.Popen(
            [sys.executable, "-m", "taxifare.deployer.cli", "deploy", "--version", version],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in versions
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in deployers]
    for p in deployers:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0] * len(versions), results
    found = statuses(engine)
    assert sorted(found.values()) == ["live"] + ["retired"] * (len(versions) - 1)


def test_the_console_script_fails_without_a_traceback(settings_env):
    result = subprocess.run(
        [sys.executable, "-m", "taxifare.deployer.cli", "deploy", "--version", "missing"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no model version 'missing'" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_and_rollback_record_the_time_given_with_now(models, engine):
    models.candidate("v1", rmse=4.0)
    models.candidate("v2", rmse=3.0)
    assert main(["deploy", "--version", "v1", "--now", "2023-03-01T06:00:00"]) == 0
    assert main(["deploy", "--version", "v2", "--now", "2023-03-08T06:00:00"]) == 0
    assert main(["rollback", "--now", "2023-03-09T00:00:00"]) == 0
    with engine.connect() as conn:
        rows = {r.version: r for r in conn.execute(sa.select(model_versions))}
    assert rows["v1"].status == "live" and rows["v1"].promoted_at == datetime(2023, 3, 9)
    assert rows["v2"].status == "rejected" and rows["v2"].retired_at == datetime(2023, 3, 9)


def test_an_empty_now_means_the_current_time(models, engine):
    models.candidate("v1", rmse=4.0)
    before = clock.utcnow()
    assert main(["deploy", "--version", "v1", "--now", ""]) == 0
    with engine.connect() as conn:
        promoted = conn.execute(sa.select(model_versions.c.promoted_at)).scalar_one()
    assert before <= promoted <= clock.utcnow()


def test_a_bad_now_is_a_usage_error_and_changes_nothing(models, engine, capsys):
    models.candidate("v1", rmse=4.0)
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "--version", "v1", "--now", "yesterday"])
    assert exit_info.value.code == 2
    assert "--now: not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err
    assert statuses(engine) == {"v1": "candidate"}
