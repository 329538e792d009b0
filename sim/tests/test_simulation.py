"""Short simulations end to end: the real pipelines on a simulated clock, SQLite and Postgres."""

import math
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import drift_checks, model_versions, pipeline_runs, predictions
from taxifare.sim.experiment import Plan, run_plan
from taxifare.sim.streams import SYNTHETIC_START

START = datetime.combine(SYNTHETIC_START, datetime.min.time())


def database_of(plan: Plan, policy: str) -> str:
    """The SQLite file or Postgres database the simulation of `policy` used."""
    folder = plan.run_dir / policy.replace(":", "-")
    if plan.database_url is None:
        return f"sqlite:///{folder / 'taxifare.db'}"
    from sqlalchemy.engine import make_url

    base = make_url(plan.database_url)
    name = f"{base.database}_sim_{plan.run_dir.name}_{folder.name}".replace("-", "_")[:63]
    return base.set(database=name).render_as_string(hide_password=False)


def test_every_n_trains_ceil_days_over_n_times_and_never_never(tmp_path, tiny_settings, sim_database):
    plan = Plan(
        "three-events", ("every:4", "never"), tiny_settings, tmp_path / "sim", database_url=sim_database
    )
    every, never = run_plan(plan)

    assert every["retrains"] == math.ceil(10 / 4) == 3
    assert never["retrains"] == 0 and never["deployed"] == never["rejected"] == 0
    assert every["deployed"] + every["rejected"] + every["failed"] == 3
    assert every["served"] == never["served"] == 10 * 200
    assert [d["day"] for d in never["daily"]] == [
        (START + timedelta(days=i)).date().isoformat() for i in range(10)
    ]
    # The retrains ran at the end of days 0, 4 and 8 of the simulated clock.
    assert [r["at"] for r in every["retrain_log"]] == [
        (START + timedelta(days=d)).isoformat() for d in (1, 5, 9)
    ]

    engine = connect_engine(database_of(plan, "every:4"))
    with engine.connect() as conn:
        stamps = conn.execute(
            sa.select(sa.func.min(predictions.c.created_at), sa.func.max(predictions.c.created_at))
        ).one()
        runs = conn.execute(sa.select(pipeline_runs.c.created_at, pipeline_runs.c.finished_at)).all()
        versions = conn.execute(sa.select(model_versions.c.created_at)).scalars().all()
    engine.dispose()
    # Predictions are stamped with the end of their pickup hour, inside the simulated days.
    assert stamps[0] > START and stamps[1] <= START + timedelta(days=10)
    # Every run and registration carries the simulated time: the first model at the start, then the retrains.
    assert sorted(r.created_at for r in runs) == [START] + [START + timedelta(days=d) for d in (1, 5, 9)]
    assert all(r.finished_at == r.created_at for r in runs)
    assert sorted(versions) == [START] + [START + timedelta(days=d) for d in (1, 5, 9)]


def test_the_checker_runs_the_retraining_checker_pipeline_at_its_cadence(tmp_path, tiny_settings):
    settings = {
        **tiny_settings,
        "days": 4,
        "cadence_hours": 12.0,
        "window_hours": 12.0,
        "min_predictions": 50,
    }
    plan = Plan("three-events", ("checker",), settings, tmp_path / "sim")
    [checker] = run_plan(plan)

    assert checker["checks"] == 8
    engine = connect_engine(database_of(plan, "checker"))
    with engine.connect() as conn:
        checked = (
            conn.execute(sa.select(drift_checks.c.checked_at).order_by(drift_checks.c.id)).scalars().all()
        )
        check_runs = conn.execute(
            sa.select(pipeline_runs.c.created_at, pipeline_runs.c.triggered_by)
            .where(pipeline_runs.c.pipeline == "retraining-checker")
            .order_by(pipeline_runs.c.id)
        ).all()
    engine.dispose()
    expected = [START + timedelta(hours=12 * (k + 1)) for k in range(8)]
    assert checked == expected
    assert [r.created_at for r in check_runs] == expected
    assert {r.triggered_by for r in check_runs} == {"taxifare-sim checker"}


def test_the_same_seed_gives_the_same_results(tmp_path, tiny_settings):
    settings = {**tiny_settings, "days": 6}
    first = run_plan(Plan("three-events", ("every:3",), settings, tmp_path / "a"))[0]
    again = run_plan(Plan("three-events", ("every:3",), settings, tmp_path / "b"))[0]
    other = run_plan(Plan("three-events", ("never",), settings, tmp_path / "c", seed=1))[0]

    def outcome(result):
        # Version names carry the wall-clock time of training; everything else must repeat.
        daily = [(d["day"], d["mae"], d["served"]) for d in result["daily"]]
        return daily, [(r["at"], r["deployed"], r["candidate_rmse"]) for r in result["retrain_log"]]

    assert outcome(first) == outcome(again)
    assert first["mae"] == again["mae"]
    assert [d["mae"] for d in other["daily"]] != [d["mae"] for d in first["daily"]]


@pytest.mark.parametrize("policies", [("never",)])
def test_a_reused_state_directory_is_cleared_first(tmp_path, tiny_settings, policies):
    settings = {**tiny_settings, "days": 2}
    plan = Plan("three-events", policies, settings, tmp_path / "sim")
    stale = plan.run_dir / "never" / "data" / "date=2023-01-01" / "part-stale.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a run that was killed")
    [never] = run_plan(plan)
    assert not stale.exists()
    assert never["served"] == 2 * 200


def test_the_oracle_retrains_once_a_full_window_of_the_new_regime_is_in_the_store(tmp_path, tiny_settings):
    """three-events changes on day 30; with 3 + 2 days a window, days 30..34 make the first clean one."""
    settings = {**tiny_settings, "days": 37, "trips_per_day": 100, "min_rows": 100}
    [oracle] = run_plan(Plan("three-events", ("oracle",), settings, tmp_path / "sim"))
    assert [r["at"] for r in oracle["retrain_log"]] == [(START + timedelta(days=35)).isoformat()]
    assert oracle["retrain_log"][0]["reason"].startswith("oracle: 5 days of trips since covariate shift")


def test_a_benign_covariate_shift_costs_at_most_one_retrain_and_never_two_rejections(tmp_path, tiny_settings):
    """three-events to day 42: from day 30, longer and airport trips on the same card. The checker sees
    the drift and does not retrain on it (the shipped cost rule); the previous release's rule does."""
    settings = {
        **tiny_settings,
        "days": 42,
        "trips_per_day": 300,
        "train_days": 5,
        "eval_days": 3,
        "epochs": 5,
    }
    checker, signals = run_plan(Plan("three-events", ("checker", "signals"), settings, tmp_path / "sim"))

    assert checker["retrains"] <= 1, checker["retrain_log"]
    assert checker["max_rejected_in_a_row"] <= 1
    assert signals["retrains"] > checker["retrains"]
    engine = connect_engine(
        database_of(Plan("three-events", ("checker",), settings, tmp_path / "sim"), "checker")
    )
    with engine.connect() as conn:
        reasons = (
            conn.execute(
                sa.select(drift_checks.c.reason).where(drift_checks.c.checked_at > START + timedelta(days=31))
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert any("drift seen, not a reason alone" in reason for reason in reasons)
