"""The cost rule end to end, on SQLite and Postgres: error sums in SQL, benign drift, a fare increase,
the back-off after a rejected candidate, versions without an expected-error table."""

from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from taxifare.core.db.tables import deploy_decisions, drift_checks, model_versions
from taxifare.drift_checker.check import run_check
from taxifare.drift_checker.error_window import aggregate_errors
from taxifare.drift_checker.excess import excess_of
from taxifare.drift_checker.policy import Policy

LONG_AGO = timedelta(days=30)
# Hourly windows, and a change counts as learnable after three hours of it (the default is 72 h).
HOURLY = Policy(window_hours=1, min_new_data_hours=3)


def hourly_traffic(engine, sim, scenario, *, windows: int, seed: int, n=300, actual_share=0.6):
    rng = np.random.default_rng(seed)
    for i in range(windows):
        start = sim.T0 + sim.hours(i)
        data = sim.trips(rng, n, scenario)
        sim.log_traffic(engine, data, start, start + sim.hours(1), actual_share=actual_share, prefix=f"w{i}-")


def checks(engine, sim, policy, windows: int):
    return [run_check(engine, policy, now=sim.T0 + sim.hours(i + 1)) for i in range(windows)]


def test_the_database_sums_errors_against_the_table_as_numpy_does(engine, reference_with_table, sim):
    sim.add_live_model(engine, reference_with_table, promoted_at=sim.T0 - LONG_AGO)
    data = sim.trips(np.random.default_rng(7), 400, sim.FARE_INCREASE)
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1), actual_share=0.25)
    table = reference_with_table.stats["expected_error"]
    with engine.connect() as conn:
        sums = aggregate_errors(
            conn, "v1", start=sim.T0, end=sim.T0 + sim.hours(1), table=table, eval_mae=1.0
        )

    bins = np.searchsorted(np.asarray(table["edges"][1:-1]), data["prediction"], side="right")
    expected = np.asarray(table["mae"])[bins]
    known = np.arange(400) < 100
    errors = np.abs(data["prediction"] - data["fare"])[known]
    assert (sums.n, sums.n_known, sums.table) == (400, 100, True)
    assert sums.expected_total == pytest.approx(expected.sum())
    assert sums.expected_known_total == pytest.approx(expected[known].sum())
    assert sums.abs_error_total == pytest.approx(errors.sum())
    assert sums.difference_sq_total == pytest.approx(((errors - expected[known]) ** 2).sum())
    assert excess_of(sums).excess == pytest.approx(errors.mean() - expected[known].mean())


def test_benign_covariate_shift_is_seen_but_does_not_retrain(engine, reference_with_table, sim):
    """Longer, airport and night trips priced by the same card: the error is what the model makes on
    such trips, so the cost rule holds while the any-signal rule would retrain at once."""
    sim.add_live_model(engine, reference_with_table, promoted_at=sim.T0 - LONG_AGO)
    hourly_traffic(engine, sim, sim.COVARIATE_SHIFT, windows=6, seed=11)

    results = checks(engine, sim, HOURLY, 6)

    assert not any(r.decision for r in results), [r.reason for r in results if r.decision]
    for r in results:
        signals = {s.name: s for s in r.signals}
        assert signals["mean_gap"].fired  # the drift is there, and shown
        assert "drift seen, not a reason alone: mean_gap" in r.reason
        assert r.evidence.realised_mae > 1.2 * reference_with_table.eval_mae  # dearer trips, larger errors
        assert abs(r.evidence.z) < 3, r.reason
    assert run_check(engine, Policy(rule="signals", window_hours=1), now=sim.T0 + sim.hours(6)).decision


def test_a_fare_increase_retrains_once_enough_of_it_was_served(engine, reference_with_table, sim):
    sim.add_live_model(engine, reference_with_table, promoted_at=sim.T0 - LONG_AGO)
    hourly_traffic(engine, sim, sim.FARE_INCREASE, windows=4, seed=12)

    first, second, third = checks(engine, sim, HOURLY, 3)

    assert [r.decision for r in (first, second, third)] == [False, False, True]
    assert first.reason.startswith(
        "no retraining: waiting for 2 h more of the new world: the excess began with"
    )
    assert second.reason.startswith("no retraining: waiting for 60 min more")
    assert third.reason.startswith("retraining needed: realised MAE")
    assert all(r.significant and r.evidence.excess > 1.0 for r in (first, second, third))
    # Stored with every check: the evidence and what it costs, read back by later checks.
    with engine.connect() as conn:
        stored = (
            conn.execute(sa.select(drift_checks.c.statistics).order_by(drift_checks.c.id)).scalars().all()
        )
    assert stored[0]["error"]["significant"] is True
    assert stored[2]["projected_loss"] == pytest.approx(third.projected_loss)
    # The "true" claims the retrain until the trigger records a run.
    wider = Policy(window_hours=2, min_new_data_hours=3)
    later = run_check(engine, wider, now=third.window_end + timedelta(minutes=30))
    assert f"check {third.check_id} at" in later.reason and "already asked for retraining" in later.reason


def test_a_rejected_candidate_holds_the_same_evidence_back(engine, reference_with_table, sim):
    sim.add_live_model(engine, reference_with_table, promoted_at=sim.T0 - LONG_AGO)
    hourly_traffic(engine, sim, sim.FARE_INCREASE, windows=3, seed=13)
    asked = checks(engine, sim, HOURLY, 3)[-1]
    assert asked.decision
    with engine.begin() as conn:
        conn.execute(deploy_decisions.insert().values(
            decided_at=asked.window_end, candidate_version="c1", live_version="v1", candidate_rmse=5.0,
            baseline_rmse=4.9, margin=0.02, decision=False, reason="no better than the live model",
        ))  # fmt: skip
    no_claim = Policy(window_hours=3, min_new_data_hours=3, claim_minutes=0)

    held = run_check(engine, no_claim, now=asked.window_end + sim.hours(2))
    assert not held.decision
    assert "back-off: 1 candidate(s) rejected against the live model, the last (c1)" in held.reason
    assert run_check(engine, no_claim, now=asked.window_end + sim.hours(24)).evidence is not None


def test_a_version_without_a_table_is_judged_by_its_evaluation_mae(engine, reference, sim):
    sim.add_live_model(engine, reference, promoted_at=sim.T0 - LONG_AGO)
    hourly_traffic(engine, sim, sim.NORMAL, windows=1, seed=14)
    result = run_check(engine, HOURLY, now=sim.T0 + sim.hours(1))
    assert result.evidence is not None and not result.evidence.table
    assert "(no expected-error table with this version: its evaluation MAE for every trip)" in result.reason


def test_the_onset_is_the_start_of_the_run_of_elevated_excess(engine, reference_with_table, sim):
    """Stored checks with z 4, 0.5, 1.5, 2.5 (newest last): the run of z >= 1 began with the third."""
    from taxifare.drift_checker.history import read_history

    sim.add_live_model(engine, reference_with_table, promoted_at=sim.T0 - LONG_AGO)
    with engine.begin() as conn:
        for i, z in enumerate([4.0, 0.5, 1.5, 2.5]):
            conn.execute(drift_checks.insert().values(
                checked_at=sim.T0 + sim.hours(i + 1), model_version="v1", window_start=sim.T0 + sim.hours(i),
                window_end=sim.T0 + sim.hours(i + 1), decision=False, reason="stored",
                statistics={"error": {"z": z, "excess": z / 2}},
            ))  # fmt: skip
    with engine.connect() as conn:
        history = read_history(conn, "v1", sim.T0 - LONG_AGO, sim.T0 + sim.hours(4))
        assert history.excess_since == sim.T0 + sim.hours(2)
        # Another version's checks do not count; a version without any check has no onset.
        assert read_history(conn, "v2", sim.T0 - LONG_AGO, sim.T0 + sim.hours(4)).excess_since is None


def test_a_model_trained_across_the_change_it_cured_is_retrained_once_a_window_of_it_is_there(
    engine, reference_with_table, sim
):
    """v1 went live for a change first seen 30 hours before now, trained on data from days before it."""
    change = sim.T0 - sim.hours(29)
    sim.add_live_model(engine, reference_with_table, promoted_at=sim.T0 - sim.hours(20))
    with engine.begin() as conn:
        conn.execute(sa.update(model_versions).values(data_start=(change - timedelta(days=3)).date()))
        conn.execute(drift_checks.insert().values(
            checked_at=sim.T0 - sim.hours(21), model_version="v0", window_start=change, window_end=sim.T0 - sim.hours(21),
            decision=True, reason="retraining needed", statistics={"error": {"z": 9.0, "since": change.isoformat()}},
        ))  # fmt: skip
    hourly_traffic(engine, sim, sim.NORMAL, windows=1, seed=15)
    one_day_window = Policy(window_hours=1, training_window_days=1)

    result = run_check(engine, one_day_window, now=sim.T0 + sim.hours(1))
    assert result.decision
    assert result.reason.startswith(
        f"retraining needed: completing the cure of the change seen from {change:%Y-%m-%d %H:%M}: the live "
        f"model was trained on trips from {(change - timedelta(days=3)).date()}, before it"
    )
