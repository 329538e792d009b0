import math
from datetime import datetime

import pytest
import sqlalchemy as sa

from taxifare.core.db.tables import deploy_decisions
from taxifare.deployer.cli import main


def check(models, candidate_metrics, live_metrics, *extra):
    output = models.root / "out" / "deploy"
    code = main(
        ["check-deploy", "--candidate-metrics", str(candidate_metrics), "--live-metrics", str(live_metrics),
         "--output", str(output), *extra]
    )  # fmt: skip
    return code, output.read_text() if output.exists() else None


def decisions(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(deploy_decisions).order_by(deploy_decisions.c.id)).all()


def deploy(version):
    assert main(["deploy", "--version", version]) == 0


def baseline_of(models, label_mean):
    return math.sqrt(sum((f - label_mean) ** 2 for f in models.fares) / len(models.fares))


def test_first_model_that_clearly_beats_the_mean_fare_baseline_is_deployed(models, engine, capsys):
    baseline = baseline_of(models, 14.0)
    metrics = models.candidate("v1", rmse=baseline * 0.5)
    code, answer = check(models, metrics, models.live_metrics(None))
    assert (code, answer) == (0, "true")
    out = capsys.readouterr().out
    assert out.startswith("true: no live model; candidate RMSE")
    [row] = decisions(engine)
    assert (row.candidate_version, row.live_version, row.decision) == ("v1", None, True)
    assert row.baseline_rmse == pytest.approx(baseline)  # computed from the evaluation Parquet
    assert row.margin == 0.1
    assert models.status("v1") == "candidate"


def test_first_model_no_better_than_the_baseline_is_rejected(models, engine, capsys):
    baseline = baseline_of(models, 14.0)
    metrics = models.candidate("v1", rmse=baseline * 0.95)
    code, answer = check(models, metrics, models.live_metrics(None), "--baseline-margin", "0.1")
    assert (code, answer) == (0, "false")
    assert "does not beat the mean-fare baseline" in capsys.readouterr().out
    assert decisions(engine)[0].decision is False
    assert models.status("v1") == "rejected"


def test_a_baseline_rmse_in_the_metrics_is_used_as_is(models, engine):
    metrics = models.candidate("v1", rmse=5.0, baseline_rmse=5.2, eval_data_uri="/nowhere/eval.parquet")
    assert check(models, metrics, models.live_metrics(None)) == (0, "false")
    assert decisions(engine)[0].baseline_rmse == 5.2


@pytest.mark.parametrize(("candidate_rmse", "answer"), [(3.5, "true"), (3.95, "false"), (4.0, "false")])
def test_candidate_against_the_live_model_on_the_same_data(models, engine, candidate_rmse, answer, capsys):
    models.candidate("v1", rmse=4.0)
    deploy("v1")
    metrics = models.candidate("v2", rmse=candidate_rmse)
    assert check(models, metrics, models.live_metrics("v1", rmse=4.0), "--margin", "0.02") == (0, answer)
    assert "live v1 RMSE 4.0000 on the same evaluation data by the 2.0% margin" in capsys.readouterr().out
    [row] = decisions(engine)
    assert (row.live_version, row.candidate_rmse, row.baseline_rmse, row.margin) == (
        "v1",
        candidate_rmse,
        4.0,
        0.02,
    )
    assert models.status("v2") == ("candidate" if answer == "true" else "rejected")
    assert models.status("v1") == "live"


def test_the_live_rmse_on_the_new_data_counts_not_its_registered_one(models):
    """The live model scored 4.0 when trained, but only 6.0 on the candidate's newer data."""
    models.candidate("v1", rmse=4.0)
    deploy("v1")
    metrics = models.candidate("v2", rmse=5.0)
    assert check(models, metrics, models.live_metrics("v1", rmse=6.0)) == (0, "true")


def test_a_retried_check_repeats_the_recorded_decision(models, engine, capsys):
    models.candidate("v1", rmse=4.0)
    deploy("v1")
    metrics = models.candidate("v2", rmse=3.0)
    live = models.live_metrics("v1", rmse=4.0)
    assert check(models, metrics, live) == (0, "true")
    assert check(models, metrics, live, "--margin", "0.5") == (0, "true")
    assert "decided by an earlier attempt" in capsys.readouterr().out
    assert len(decisions(engine)) == 1


@pytest.mark.parametrize(
    ("situation", "message"),
    [
        ("unregistered", "'v9' is not registered: run write-metrics first"),
        ("no-live-but-registry-has-one", "the live metrics say there is no live model, but 'v1' is live"),
        ("stale-live", "the live model changed since it was evaluated"),
        ("other-data", "scored on 499 rows but the candidate on 500"),
        ("already-rejected", "'v2' is rejected; only a candidate can be checked"),
    ],
)
def test_inputs_that_disagree_with_the_registry_are_refused(models, engine, capsys, situation, message):
    models.candidate("v1", rmse=4.0)
    deploy("v1")
    models.candidate("v0", rmse=4.5)
    candidate = models.candidate("v2", rmse=3.0)
    live = models.live_metrics("v1", rmse=4.0)
    if situation == "unregistered":
        candidate = models.write(
            "v9.json", {"version": "v9", "rmse": 3.0, "label_mean": 14.0, "eval_data_uri": "x"}
        )
    elif situation == "no-live-but-registry-has-one":
        live = models.live_metrics(None)
    elif situation == "stale-live":
        live = models.live_metrics("v0", rmse=4.0)
    elif situation == "other-data":
        live = models.live_metrics("v1", rmse=4.0, n=499)
    elif situation == "already-rejected":
        assert main(["deploy", "--version", "v2"]) == 0 and main(["rollback"]) == 0
    before = decisions(engine)
    code, answer = check(models, candidate, live)
    assert (code, answer) == (1, None)
    assert message in capsys.readouterr().err
    assert decisions(engine) == before


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("candidate", None, "candidate metrics file"),
        ("candidate", "{", "is not valid JSON"),
        (
            "candidate",
            {"version": "v1", "label_mean": 1.0, "eval_data_uri": "x"},
            "lacks required field(s): rmse",
        ),
        (
            "candidate",
            {"version": "v1", "rmse": "NaN", "label_mean": 1.0, "eval_data_uri": "x"},
            "rmse must be a finite number",
        ),
        ("live", {"rmse": 3.0}, "lacks model_uri"),
        ("live", {"model_uri": "/m/v1"}, "lacks required field(s): rmse, n"),
        ("live", {"model_uri": "/m/v1", "rmse": 3.0, "n": -1}, "n must be a count"),
    ],
)
def test_bad_metrics_files_are_refused(models, capsys, which, content, message):
    candidate = models.candidate("v1", rmse=3.0)
    live = models.live_metrics(None)
    target = models.root / "files" / "bad.json"
    if content is not None:
        models.write("bad.json", content)
    code, answer = check(
        models, target if which == "candidate" else candidate, target if which == "live" else live
    )
    assert (code, answer) == (1, None)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert decisions(models.engine) == []
    assert models.status("v1") == "candidate"


def test_unreadable_evaluation_data_is_refused(models, engine, capsys):
    (models.root / "eval" / "eval.parquet").write_text("not parquet")
    metrics = models.candidate("v1", rmse=3.0)
    assert check(models, metrics, models.live_metrics(None)) == (1, None)
    assert "is not Parquet with a fare_amount column" in capsys.readouterr().err
    assert decisions(engine) == []


@pytest.mark.parametrize("margin", ["-0.1", "1", "two"])
def test_a_bad_margin_is_a_usage_error(models, capsys, margin):
    metrics = models.candidate("v1", rmse=3.0)
    with pytest.raises(SystemExit) as exit_info:
        check(models, metrics, models.live_metrics(None), "--margin", margin)
    assert exit_info.value.code == 2
    assert "--margin" in capsys.readouterr().err


def test_the_decision_is_recorded_at_the_time_given_with_now(models, engine):
    metrics = models.candidate("v1", rmse=baseline_of(models, 14.0) * 0.5)
    code, answer = check(models, metrics, models.live_metrics(None), "--now", "2023-03-01T06:00:00+00:00")
    assert (code, answer) == (0, "true")
    [row] = decisions(engine)
    assert row.decided_at == datetime(2023, 3, 1, 6)
