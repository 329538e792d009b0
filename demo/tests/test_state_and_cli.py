"""The demo's state folder, its text tables, its report of nothing yet and its refusals (no training)."""

import subprocess
import sys
from datetime import datetime

import pytest

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import model_versions
from taxifare.demo import cli
from taxifare.demo.report import write_report
from taxifare.demo.state import MARKER, StateError, prepare_state
from taxifare.demo.summary import text_table


def test_a_second_run_starts_clean(tmp_path):
    first = prepare_state(tmp_path / "demo", None)
    (first.root / "leftover.txt").write_text("from the first run")
    second = prepare_state(tmp_path / "demo", None)
    assert (second.root / MARKER).exists()
    assert not (second.root / "leftover.txt").exists()
    assert second.database_url == f"sqlite:///{second.root / 'taxifare.db'}"


def test_a_folder_the_demo_did_not_make_is_never_removed(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(StateError, match="was not made by the demo"):
        prepare_state(tmp_path / "mine", None)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_a_database_that_holds_models_is_refused(tmp_path, database_url):
    engine = connect_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            model_versions.insert().values(version="v0", created_at=datetime(2024, 1, 1), model_uri="/m")
        )
    engine.dispose()
    with pytest.raises(StateError, match="already holds 1 model version"):
        prepare_state(tmp_path / "demo", database_url)


def test_text_table_aligns_columns():
    table = text_table(["name", "MAE"], [["v1", 6.123], ["version two", None]]).splitlines()
    assert table[0].index("MAE") == table[2].index("6.12") == table[3].index("-")


def test_the_report_of_an_empty_database_still_renders(tmp_path, sqlite_url):
    engine = connect_engine(sqlite_url)
    path = write_report(engine, tmp_path / "r.html", datetime(2024, 1, 1), ["[0:01] started"])
    engine.dispose()
    assert "no data" in path.read_text() and "[0:01] started" in path.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--drift-days", "3", "--train-days", "3", "--eval-days", "2"], "--drift-days (3) must be at least"),
        (["--epochs", "0"], "not a positive int"),
        (["--rate", "fast"], "not a non-negative float"),
    ],
)
def test_bad_options_are_refused_with_a_message(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_foreign_state_folder_stops_the_cli_without_a_traceback(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "taxifare.demo.cli", "--state-dir", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "was not made by the demo" in done.stderr and "Traceback" not in done.stderr
