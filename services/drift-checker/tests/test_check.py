"""The detector and the policy end to end, on SQLite and Postgres, with traffic of known distributions."""

import json
import threading
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from taxifare.core.db.tables import drift_checks, model_versions
from taxifare.drift_checker.check import run_check
from taxifare.drift_checker.policy import Policy
from taxifare.drift_checker.runs import parse_training_runs

LONG_AGO = timedelta(days=30)
# These tests are about the signals and the holds every rule shares: the rule that acts on any signal.
SIGNALS = Policy(rule="signals")


def signals_of(result) -> dict:
    return {s.name: s for s in result.signals}


def trigger_answer(run_id=None, status="running", since=None, newest=None):
    """What `taxifare-trigger in-flight` writes (its documented JSON), parsed as the checker reads it."""
    return parse_training_runs(
        json.dumps({
            "pipeline": "taxi-fare-predictor", "in_flight": run_id is not None, "run_id": run_id,
            "status": status if run_id is not None else None, "since": since and since.isoformat(),
            "external_run_id": None, "newest_recorded_at": newest and newest.isoformat(), "note": None,
        })
    )  # fmt: skip


@pytest.mark.slow
def test_stationary_traffic_asks_for_retraining_at_most_once_in_a_hundred_checks(engine, reference, sim):
    """200 hourly windows of normal traffic: 170 small (KS / chi-square) and 30 large (PSI / JS)."""
    rng = np.random.default_rng(100)
    sim.add_live_model(engine, reference, promoted_at=sim.T0 - LONG_AGO)
    sizes = [220] * 170 + [1100] * 30
    for i, n in enumerate(sizes):
        start = sim.T0 + sim.hours(i)
        sim.log_traffic(
            engine, sim.trips(rng, n), start, start + sim.hours(1), actual_share=0.6, prefix=f"w{i}-"
        )
    policy = Policy(rule="signals", window_hours=1)

    results = [run_check(engine, policy, now=sim.T0 + sim.hours(i + 1)) for i in range(len(sizes))]

    assert [r.n_predictions for r in results] == sizes
    assert all(s.evaluated for r in results for s in r.signals)
    false_alarms = sum(r.drift_detected for r in results)
    assert false_alarms <= 2, [r.reason for r in results if r.drift_detected]
    assert sum(r.decision for r in results) <= false_alarms


def test_covariate_shift_is_detected_at_the_default_minimum_sample_size(engine, reference, sim):
    """Drift traffic (longer trips, more airports, night hours), no fares known yet: input signals see it."""
    rng = np.random.default_rng(101)
    sim.add_live_model(engine, reference, promoted_at=sim.T0 - LONG_AGO)
    n = Policy().min_predictions
    windows = 10
    for i in range(windows):
        start = sim.T0 + sim.hours(i)
        sim.log_traffic(
            engine, sim.trips(rng, n, sim.COVARIATE_SHIFT), start, start + sim.hours(1), prefix=f"w{i}-"
        )

    results = [
        run_check(engine, Policy(rule="signals", window_hours=1), now=sim.T0 + sim.hours(i + 1))
        for i in range(windows)
    ]

    assert all(r.n_predictions == n for r in results)
    assert all(r.drift_detected and signals_of(r)["mean_gap"].fired for r in results)
    # The input distributions alone see it too, almost always at this small a sample.
    assert sum(signals_of(r)["distribution"].fired for r in results) >= 0.9 * windows
    assert not any(signals_of(r)["performance"].evaluated for r in results)
    assert results[0].decision
    assert "distribution" in results[0].reason
    assert "distance_km" in signals_of(results[0])["distribution"].statistics["drifted"]


def test_fare_increase_is_seen_only_by_the_performance_signal(engine, reference, sim):
    """Same trips, higher fares: inputs and predictions do not move, only the realised error does."""
    rng = np.random.default_rng(102)
    sim.add_live_model(engine, reference, promoted_at=sim.T0 - LONG_AGO)
    windows = 10
    for i in range(windows):
        start = sim.T0 + sim.hours(i)
        data = sim.trips(rng, 200, sim.FARE_INCREASE)
        sim.log_traffic(engine, data, start, start + sim.hours(1), actual_share=0.6, prefix=f"w{i}-")

    results = [
        run_check(engine, Policy(rule="signals", window_hours=1), now=sim.T0 + sim.hours(i + 1))
        for i in range(windows)
    ]

    for result in results:
        signals = signals_of(result)
        assert signals["mean_gap"].evaluated and not signals["mean_gap"].fired, result.reason
        assert signals["distribution"].evaluated and not signals["distribution"].fired, result.reason
        assert signals["performance"].fired, result.reason
        assert result.drift_detected
    assert results[0].decision
    assert results[0].reason.startswith("retraining needed: performance: realised MAE")


def _drifted(engine, reference, sim, promoted_at, n=300):
    sim.add_live_model(engine, reference, promoted_at=promoted_at)
    data = sim.trips(np.random.default_rng(103), n, sim.COVARIATE_SHIFT)
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1))


def test_cooldown_after_a_deploy_is_honoured(engine, reference, sim):
    _drifted(engine, reference, sim, promoted_at=sim.T0 - sim.hours(1))
    policy = Policy(rule="signals", window_hours=12, cooldown_hours=6)

    early = run_check(engine, policy, now=sim.T0 + sim.hours(2))
    late = run_check(engine, policy, now=sim.T0 + sim.hours(7))

    assert early.drift_detected and not early.decision
    assert "cooldown: the live model was deployed 3.0 h ago (< 6 h)" in early.reason
    assert late.decision, late.reason


def test_a_training_run_in_flight_blocks_retraining(engine, reference, sim):
    """The trigger says whether a run is in flight (it asks KFP and applies the staleness rule)."""
    _drifted(engine, reference, sim, promoted_at=sim.T0 - LONG_AGO)
    now = sim.T0 + sim.hours(1)
    started = now - sim.hours(1)

    blocked = run_check(
        engine, SIGNALS, now=now, training_runs=trigger_answer(7, "pending", started, started)
    )
    assert not blocked.decision
    assert "a taxi-fare-predictor run is in flight (run 7, pending since" in blocked.reason

    # The run has ended: the trigger's next answer names none in flight.
    ended = run_check(
        engine, SIGNALS, now=now + timedelta(minutes=1), training_runs=trigger_answer(newest=started)
    )
    assert ended.decision, ended.reason


def test_two_checkers_at_once_trigger_only_once(engine, reference, sim):
    _drifted(engine, reference, sim, promoted_at=sim.T0 - LONG_AGO)
    now = sim.T0 + sim.hours(1)
    start = threading.Barrier(3)
    results, errors = [], []

    def checker():
        start.wait()
        try:
            results.append(run_check(engine, SIGNALS, now=now))
        except Exception as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=checker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(r.decision for r in results) == [False, False, True]
    winner = next(r for r in results if r.decision)
    assert all(f"check {winner.check_id} " in r.reason for r in results if not r.decision)

    # The trigger records the run: from then on the in-flight rule blocks, and once it has finished,
    # drift still present asks for retraining again.
    recorded = now + timedelta(minutes=1)
    running = trigger_answer(12, "running", recorded, recorded)
    assert (
        "(run 12, running since"
        in run_check(engine, SIGNALS, now=now + timedelta(minutes=2), training_runs=running).reason
    )
    finished = trigger_answer(newest=recorded)
    assert run_check(engine, SIGNALS, now=now + timedelta(minutes=3), training_runs=finished).decision


def test_too_few_samples_means_false_with_that_reason(engine, reference, sim):
    _drifted(engine, reference, sim, promoted_at=sim.T0 - LONG_AGO, n=50)
    result = run_check(engine, SIGNALS, now=sim.T0 + sim.hours(1))
    assert not result.decision
    assert result.reason.startswith("no retraining: too few samples")
    assert "too few predictions: 50 < 200" in result.reason
    assert "too few known fares: 0 < 100" in result.reason


def test_no_live_model_means_false(engine, sim):
    result = run_check(engine, SIGNALS, now=sim.T0)
    assert (result.decision, result.reason) == (False, "no retraining: no live model")


def test_every_check_is_stored_with_statistics_decision_and_reason(engine, reference, sim):
    _drifted(engine, reference, sim, promoted_at=sim.T0 - LONG_AGO)
    result = run_check(engine, SIGNALS, now=sim.T0 + sim.hours(1))
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(drift_checks).where(drift_checks.c.id == result.check_id)).mappings().one()
        )
        live = conn.execute(sa.select(model_versions.c.version)).scalar_one()
    assert row["decision"] is True
    assert row["reason"] == result.reason
    assert (row["model_version"], row["n_predictions"], row["n_actuals"]) == (live, 300, 0)
    assert row["window_end"] == sim.T0 + sim.hours(1)
    stats = row["statistics"]
    assert stats["signals"]["mean_gap"]["statistics"]["prediction_mean"] > reference.label_mean
    assert stats["signals"]["distribution"]["statistics"]["columns"]["distance_km"]["method"] == "ks"


def test_columns_missing_from_the_reference_are_skipped_not_fatal(engine, reference, sim):
    partial = dict(reference.stats)
    del partial["prediction"], partial["pickup_hour"]
    sim.add_live_model(engine, type(reference)(partial, reference.label_mean, reference.label_std, reference.eval_mae),
                       promoted_at=sim.T0 - LONG_AGO)  # fmt: skip
    sim.log_traffic(
        engine, sim.trips(np.random.default_rng(104), 300, sim.COVARIATE_SHIFT), sim.T0, sim.T0 + sim.hours(1)
    )

    result = run_check(engine, SIGNALS, now=sim.T0 + sim.hours(1))

    signals = signals_of(result)
    assert signals["mean_gap"].fired  # the prediction mean is aggregated all the same
    columns = signals["distribution"].statistics["columns"]
    assert (columns["prediction"]["method"], columns["pickup_hour"]["method"]) == ("skipped", "skipped")
    assert columns["distance_km"]["drifted"]
    assert "of 6 columns drifted" in signals["distribution"].detail


def test_a_passenger_count_swap_alone_is_detected(engine, reference, sim):
    """Every 5-passenger trip logged as 6 and nothing else changed: only passenger_count drifts."""
    sim.add_live_model(engine, reference, promoted_at=sim.T0 - LONG_AGO)
    data = sim.trips(np.random.default_rng(105), 5000)
    data["passenger_count"] = np.where(data["passenger_count"] == 5, 6, data["passenger_count"])
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1))

    result = run_check(engine, Policy(window_hours=1), now=sim.T0 + sim.hours(1))

    signals = signals_of(result)
    assert signals["distribution"].fired, result.reason
    assert signals["distribution"].statistics["drifted"] == ["passenger_count"]
    column = signals["distribution"].statistics["columns"]["passenger_count"]
    assert (column["method"], column["basis"], column["cells"]) == ("chi_square", "categories", 6)
    assert not signals["mean_gap"].fired


def test_a_version_stored_before_fine_statistics_is_checked_on_its_coarse_bins(engine, reference, sim):
    coarse = {
        column: {key: value for key, value in stats.items() if key not in ("quantiles", "categories")}
        for column, stats in reference.stats.items()
    }
    legacy = type(reference)(coarse, reference.label_mean, reference.label_std, reference.eval_mae)
    sim.add_live_model(engine, legacy, promoted_at=sim.T0 - LONG_AGO)
    sim.log_traffic(
        engine, sim.trips(np.random.default_rng(106), 300, sim.COVARIATE_SHIFT), sim.T0, sim.T0 + sim.hours(1)
    )

    result = run_check(engine, now=sim.T0 + sim.hours(1))

    distribution = signals_of(result)["distribution"]
    assert distribution.fired
    assert {c["basis"] for c in distribution.statistics["columns"].values()} == {"coarse"}
    assert distribution.statistics["coarse"] == list(coarse)
    assert "compared on the ten coarse bins of reference statistics stored before" in result.reason
