import json
import subprocess
import sys
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from taxifare.core.db import registry
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import model_versions, training_metrics
from taxifare.metrics_writer.cli import main


def trainer_metrics(version="20240501T120000-ab12", **overrides):
    """A metrics file as `trainer train` writes it."""
    metrics = {
        "version": version,
        "model_uri": f"/models/{version}",
        "eval_data_uri": f"/runs/{version}/eval.parquet",
        "data_start": "2024-04-01",
        "data_end": "2024-04-30",
        "train_rows": 9000,
        "eval_rows": 1000,
        "rmse": 3.25,
        "mae": 1.75,
        "label_mean": 14.5,
        "label_std": 9.5,
        "prediction_mean": 14.25,
        "prediction_std": 8.75,
        "reference_stats": {"distance_km": {"count": 9000, "mean": 3.1, "edges": [0.1, 2.0, 40.0]}},
    }
    metrics.update(overrides)
    return metrics


@pytest.fixture
def metrics_path(tmp_path):
    def write(data, name="metrics.json"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    return write


@pytest.fixture
def db(settings_env):
    engine = connect_engine(settings_env.database_url)
    yield engine
    engine.dispose()


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_write_registers_the_candidate_with_its_metrics(db, metrics_path, tmp_path, capsys):
    output = tmp_path / "out" / "version"
    code = main(["write", "--metrics", str(metrics_path(trainer_metrics())), "--pipeline-run-id", "run-1",
                 "--output-version", str(output)])  # fmt: skip
    assert code == 0
    assert output.read_text() == "20240501T120000-ab12"
    assert "registered 20240501T120000-ab12 as a candidate" in capsys.readouterr().out
    with db.connect() as conn:
        row = registry.get_version(conn, "20240501T120000-ab12")
        stored = registry.training_metrics_of(conn, row.version)
    assert row.status == "candidate"
    assert (row.model_uri, row.eval_data_uri) == (
        "/models/20240501T120000-ab12",
        "/runs/20240501T120000-ab12/eval.parquet",
    )
    assert (row.data_start, row.data_end, row.train_rows, row.eval_rows) == (
        date(2024, 4, 1),
        date(2024, 4, 30),
        9000,
        1000,
    )
    assert (row.eval_rmse, row.eval_mae, row.label_mean, row.label_std) == (3.25, 1.75, 14.5, 9.5)
    assert row.reference_stats == trainer_metrics()["reference_stats"]
    assert row.pipeline_run_id == "run-1"
    assert stored == {
        "train_rows": 9000.0, "eval_rows": 1000.0, "rmse": 3.25, "mae": 1.75,
        "label_mean": 14.5, "label_std": 9.5, "prediction_mean": 14.25, "prediction_std": 8.75,
    }  # fmt: skip


def test_a_retried_step_adds_nothing(db, metrics_path, tmp_path, capsys):
    args = ["write", "--metrics", str(metrics_path(trainer_metrics())), "--pipeline-run-id", "run-1"]
    assert main(args) == 0
    before = (count(db, model_versions), count(db, training_metrics))
    assert main([*args, "--output-version", str(tmp_path / "version")]) == 0
    assert "nothing added" in capsys.readouterr().out
    assert (count(db, model_versions), count(db, training_metrics)) == before == (1, 8)
    assert (tmp_path / "version").read_text() == "20240501T120000-ab12"


def test_another_run_registers_another_candidate(db, metrics_path):
    assert (
        main(
            [
                "write",
                "--metrics",
                str(metrics_path(trainer_metrics("v1"), "a.json")),
                "--pipeline-run-id",
                "r1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "write",
                "--metrics",
                str(metrics_path(trainer_metrics("v2"), "b.json")),
                "--pipeline-run-id",
                "r2",
            ]
        )
        == 0
    )
    with db.connect() as conn:
        assert [r.status for r in conn.execute(sa.select(model_versions).order_by("version"))] == [
            "candidate"
        ] * 2


def test_a_version_registered_by_another_run_is_refused(db, metrics_path, capsys):
    path = metrics_path(trainer_metrics("v1"))
    assert main(["write", "--metrics", str(path), "--pipeline-run-id", "r1"]) == 0
    assert main(["write", "--metrics", str(path), "--pipeline-run-id", "r2"]) == 1
    assert "already registered by pipeline run 'r1'" in capsys.readouterr().err
    assert count(db, model_versions) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object, not list"),
        (trainer_metrics(rmse=None, version=None), "lacks required field(s): version, rmse"),
        (trainer_metrics(rmse="3.2"), "rmse must be a finite number, got '3.2'"),
        (trainer_metrics(rmse=float("nan")), "rmse must be a finite number, got nan"),
        (trainer_metrics(prediction_std=float("inf")), "prediction_std is not finite"),
        (trainer_metrics(eval_rows=-1), "eval_rows must be a count"),
        (trainer_metrics(data_end="last tuesday"), "data_end must be an ISO date"),
        (trainer_metrics(data_start="2024-05-01"), "data_start 2024-05-01 is after data_end 2024-04-30"),
        (trainer_metrics(reference_stats=[1]), "reference_stats must be an object"),
    ],
)
def test_bad_metrics_files_are_refused_and_nothing_is_stored(db, metrics_path, capsys, content, message):
    path = metrics_path("{}").with_name("missing.json") if content is None else metrics_path(content)
    assert main(["write", "--metrics", str(path), "--pipeline-run-id", "run-1"]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert str(path) in err
    assert count(db, model_versions) == 0


def test_empty_run_id_is_a_usage_error(settings_env, metrics_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["write", "--metrics", str(metrics_path(trainer_metrics())), "--pipeline-run-id", " "])
    assert exit_info.value.code == 2
    assert "--pipeline-run-id must not be empty" in capsys.readouterr().err


def test_unmigrated_database_gives_a_clear_error(tmp_path, metrics_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["write", "--metrics", str(metrics_path(trainer_metrics())), "--pipeline-run-id", "r"]) == 1
    err = capsys.readouterr().err
    assert "no such table: model_versions" in err
    assert "taxifare-db upgrade" in err


def test_the_console_script_fails_without_a_traceback(settings_env, metrics_path):
    path = metrics_path("{truncated")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "taxifare.metrics_writer.cli",
            "write",
            "--metrics",
            str(path),
            "--pipeline-run-id",
            "r",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_candidate_is_registered_at_the_time_given_with_now(db, metrics_path):
    path = metrics_path(trainer_metrics())
    args = ["write", "--metrics", str(path), "--pipeline-run-id", "r1", "--now", "2023-03-01T06:00:00"]
    assert main(args) == 0
    with db.connect() as conn:
        assert conn.execute(sa.select(model_versions.c.created_at)).scalar_one() == datetime(2023, 3, 1, 6)


def test_a_bad_now_is_a_usage_error(settings_env, metrics_path, capsys):
    path = metrics_path(trainer_metrics())
    with pytest.raises(SystemExit) as exit_info:
        main(["write", "--metrics", str(path), "--pipeline-run-id", "r", "--now", "x"])
    assert exit_info.value.code == 2
    assert "--now: not an ISO 8601 time: 'x'" in capsys.readouterr().err
