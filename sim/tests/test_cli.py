"""The command line as a user runs it: a short comparison, and bad input refused before anything is written."""

import json

import pytest

from taxifare.sim.cli import main

TINY = ["--days", "3", "--trips-per-day", "150", "--train-days", "3", "--eval-days", "2", "--epochs", "2",
        "--min-rows", "200", "--min-predictions", "50", "--min-actuals", "30"]  # fmt: skip


def test_a_short_comparison_prints_the_table_and_writes_the_report(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    state = tmp_path / "sim"
    code = main(["run", "--stream", "stationary", "--policy", "every:2", "--policy", "never", "--no-progress",
                 "--state-dir", str(state), *TINY])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    header, _, every, never = out.strip().splitlines()[:4]
    assert [cell.strip() for cell in header.split(" | ")[:4]] == [
        "policy",
        "retrains",
        "deployed",
        "rejected",
    ]
    assert every.split("|")[0].strip() == "every:2" and every.split("|")[1].strip() == "2"
    assert never.split("|")[1].strip() == "0"
    results = json.loads((state / "stationary-seed0" / "comparison.json").read_text())
    assert [r["policy"] for r in results] == ["every:2", "never"]
    page = (state / "stationary-seed0" / "report.html").read_text()
    assert page.count("<svg") == 2 and "every:2" in page
    assert "stationary: 450 trips over 3 days from 2023-01-02" in err


@pytest.mark.parametrize(
    "case",
    [
        (["--stream", "weekly"], 2, "unknown stream 'weekly'; choose one of stationary, three-events, nyc, replay:PATH"),
        (["--stream", "stationary", "--policy", "sometimes"], 2, "unknown policy 'sometimes'"),
        (["--stream", "stationary", "--policy", "every:0"], 2, "every:N needs a whole number of days N >= 1"),
        (["--stream", "stationary", "--policy", "never", "--policy", "never"], 2, "a policy is named twice"),
        (["--stream", "stationary", "--days", "2", "--cadence-hours", "72"], 2,
         "policy checker: its cadence (72 h) is longer than the stream (2 days)"),
        (["--stream", "stationary", "--days", "2", "--policy", "every:5"], 2,
         "policy every:5: its cadence (120 h) is longer than the stream (2 days)"),
        (["--stream", "stationary", "--epochs", "0"], 2, "--epochs must be positive, got 0"),
        (["--stream", "replay:{tmp}/nothing-here.csv"], 1, "no such file or folder"),
        (["--stream", "replay:{tmp}/bad.csv"], 1, "bad.csv does not load"),
        (["--stream", "nyc", "--event", "fare change"], 2, "expected NAME=YYYY-MM-DD"),
    ],
)  # fmt: skip
def test_bad_input_is_named_and_nothing_is_written(tmp_path, capsys, monkeypatch, case):
    args, code, message = case
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "bad.csv").write_text("this is not,a trip file\n1,2\n")
    state = tmp_path / "sim"
    argv = [
        "run",
        *[a.replace("{tmp}", str(tmp_path)) for a in args],
        "--no-progress",
        "--state-dir",
        str(state),
    ]
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    else:
        assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not state.exists()


def test_an_unreachable_database_is_named_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://sim:secret@127.0.0.1:1/taxifare")
    state = tmp_path / "sim"
    assert main(["run", "--stream", "stationary", "--no-progress", "--state-dir", str(state)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database postgresql://sim:***@127.0.0.1:1/taxifare" in err
    assert "secret" not in err
    assert not state.exists()


def test_a_run_that_fails_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    """The first model cannot train on a 3-day window that needs 100,000 rows: the run is removed."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    state = tmp_path / "sim"
    args = [*TINY[:-6], "--min-rows", "100000"]
    assert (
        main(
            [
                "run",
                "--stream",
                "stationary",
                "--policy",
                "never",
                "--no-progress",
                "--state-dir",
                str(state),
                *args,
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "the first model was not deployed" in err and "--min-rows=100000" in err
    assert list((state / "stationary-seed0").iterdir()) == []
