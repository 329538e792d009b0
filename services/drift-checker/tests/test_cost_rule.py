"""Each rule of the cost decision on the pure function: what answers, in which order, and the reason."""

from datetime import datetime, timedelta

import pytest

from taxifare.drift_checker.cost_rule import decide_by_cost
from taxifare.drift_checker.detectors import Signal
from taxifare.drift_checker.excess import Excess, Measured
from taxifare.drift_checker.history import History, Rejection
from taxifare.drift_checker.policy import InFlightRun, PendingClaim, Policy

NOW = datetime(2026, 3, 10, 0, 0)
MAE_Z = 3.0
DRIFT = [
    Signal("mean_gap", True, True, "gap 0.61 label std > 0.3", {}),
    Signal("distribution", True, True, "5 of 8 columns drifted", {}),
    Signal("performance", True, True, "realised MAE 4.10 vs evaluation MAE 2.00", {}),
]
# Measured over 500 known fares of a 24 h window of 500 predictions, all known.
FARE_INCREASE = Excess(500, 500, 7.1, 2.1, 2.1, 5.0, 30.0, 2500.0, True, stderr=5.0 / 30)
AS_EXPECTED = Excess(500, 500, 2.95, 2.9, 2.9, 0.05, 0.9, 25.0, True, stderr=0.05 / 0.9)
LONG_SETTLED = NOW - timedelta(days=30)
DEFAULTS = Policy()
# A change first seen ten days ago: long enough served (8 days by default) for a candidate to learn it.
SETTLED_CHANGE = History(excess_since=NOW - timedelta(days=10))


def decide(evidence, policy=DEFAULTS, signals=DRIFT, history=SETTLED_CHANGE, **state):
    state = {"now": NOW, "promoted_at": LONG_SETTLED, "in_flight": None, "claim": None, **state}
    return decide_by_cost(signals, evidence, policy, MAE_Z, history=history, **state)


def test_a_significant_excess_that_costs_more_than_a_run_means_retraining():
    verdict = decide(FARE_INCREASE)
    assert verdict.decision.retrain and verdict.significant
    # 2,500 dollars of excess a day, over 7 days at 5 cents a dollar; and the day's 2,500 served already
    assert verdict.projected_loss == pytest.approx(2500 * 7 * 0.05)
    assert verdict.served_loss == pytest.approx(2500 * 0.05)
    assert verdict.decision.reason == (
        "retraining needed: realised MAE 7.10 on 500 known fares vs 2.10 expected for these trips "
        "(excess +5.00 a prediction, z 30.0); excess loss ≈ $125.00 served on 500 known fares + $875.00 over "
        "the next 168 h (500 predictions in 24 h) = $1,000.00 at $0.05 per dollar of error > a training "
        "run's $5; drift seen, not a reason alone: mean_gap: gap 0.61 label std > 0.3; distribution: 5 of 8 "
        "columns drifted"
    )


def test_drift_without_excess_is_not_a_reason():
    verdict = decide(AS_EXPECTED)
    assert not verdict.decision.retrain and not verdict.significant
    assert verdict.decision.reason.startswith(
        "no retraining: the error is what the model is expected to make on these trips: realised MAE 2.95"
    )
    assert "z 0.9 < 3)" in verdict.decision.reason
    assert "drift seen, not a reason alone: mean_gap" in verdict.decision.reason


def test_too_few_known_fares_reports_the_estimate_and_waits():
    delayed = Excess(500, 40, 7.0, 2.0, 2.6, 5.0, 12.0, 1300.0, True, stderr=5.0 / 12)
    verdict = decide(delayed)
    assert not verdict.decision.retrain
    assert verdict.decision.reason.startswith(
        "no retraining: too few known fares to measure the error: 40 < 100; estimated MAE 2.60 on its "
        "500 predictions (from their inputs: blind to a fare change)"
    )


def test_a_gradual_change_is_seen_once_its_run_of_windows_adds_up():
    from taxifare.drift_checker.excess import Measured

    creeping = Excess(500, 500, 3.4, 3.0, 3.0, 0.4, 2.0, 200.0, True, stderr=0.2)
    alone = decide(creeping, history=History(excess_since=NOW - timedelta(hours=24)))
    assert not alone.significant and "z 2.0 < 3)" in alone.decision.reason
    run = History(
        excess_since=NOW - timedelta(days=10),
        elevated_windows=(Measured(500, 0.35, 0.2), Measured(500, 0.3, 0.2)),
    )
    verdict = decide(creeping, history=run)
    assert verdict.significant and verdict.decision.retrain
    assert "z 2.0; 3.0 pooled over 3 windows since 2026-02-28 00:00)" in verdict.decision.reason
    # A window that does not continue the run (z < 1) is judged alone.
    quiet = Excess(500, 500, 3.1, 3.0, 3.0, 0.1, 0.5, 50.0, True, stderr=0.2)
    assert "pooled" not in decide(quiet, history=run).decision.reason


def test_an_excess_cheaper_than_a_training_run_is_not_worth_one():
    small_traffic = Excess(120, 120, 3.4, 3.0, 3.0, 0.4, 4.0, 48.0, True, stderr=0.1)
    verdict = decide(small_traffic, Policy(min_actuals=100, retrain_cost=20.0))
    # 48 dollars a day over 7 days at 5 cents: 16.80, and the day's 48 served: 2.40; 19.20 < 20
    assert not verdict.decision.retrain and verdict.significant
    assert (
        "excess loss ≈ $2.40 served on 120 known fares + $16.80 over the next 168 h"
        in verdict.decision.reason
    )
    assert "= $19.20 at $0.05 per dollar of error < a training run's $20" in verdict.decision.reason


def test_at_low_traffic_the_excess_served_since_it_began_adds_up_to_a_run():
    # A few trips a day, checked monthly over 90 days: a week ahead is never worth a run ...
    trickle = Excess(300, 300, 3.0, 2.0, 2.0, 1.0, 8.0, 300.0, True, stderr=0.125)
    month = Policy(window_hours=2160.0, min_actuals=30, min_new_data_hours=0)
    alone = decide(trickle, month, history=History(excess_since=NOW - timedelta(days=90)))
    assert alone.projected_loss == pytest.approx(300 * 168 / 2160 * 0.05)
    assert alone.served_loss == pytest.approx(300 * 0.05)
    assert alone.decision.retrain  # 1.17 ahead + 15.00 served > 5
    # ... but the run of elevated windows it continues is, even when this window's excess alone is not.
    small = Excess(60, 60, 2.5, 2.0, 2.0, 0.5, 4.0, 30.0, True, stderr=0.125)
    assert not decide(small, month, history=History(excess_since=NOW - timedelta(days=90))).decision.retrain
    run = History(
        excess_since=NOW - timedelta(days=270),
        elevated_windows=(Measured(100, 0.6, 0.2), Measured(100, 0.5, 0.2)),
    )
    verdict = decide(small, month, history=run)
    # (60 x 0.5 + 100 x 0.6 + 100 x 0.5) dollars of excess at 5 cents
    assert verdict.served_loss == pytest.approx(140 * 0.05)
    assert verdict.decision.retrain and "served on 260 known fares" in verdict.decision.reason


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"in_flight": InFlightRun("taxi-fare-predictor", 4, "running", NOW - timedelta(hours=1))},
         "a taxi-fare-predictor run is in flight (run 4, running since 2026-03-09 23:00)"),
        ({"claim": PendingClaim(9, NOW - timedelta(minutes=5))}, "check 9 at 2026-03-09 23:55:00 already asked"),
        ({"promoted_at": NOW - timedelta(hours=2)}, "cooldown: the live model was deployed 2.0 h ago (< 6 h)"),
    ],
)  # fmt: skip
def test_standing_holds_name_themselves_and_the_evidence(state, expected):
    verdict = decide(FARE_INCREASE, **state)
    assert not verdict.decision.retrain and verdict.decision.drift_detected
    assert verdict.decision.reason.startswith(f"no retraining: {expected}")
    assert "(evidence: realised MAE 7.10" in verdict.decision.reason


def rejected(hours_ago: float, excess: float | None = 5.0, candidate: str = "c1") -> Rejection:
    asked = None if excess is None else Measured(500, excess, 0.3)
    return Rejection(NOW - timedelta(hours=hours_ago), candidate, asked)


def test_after_a_rejection_the_same_evidence_waits_and_the_wait_doubles():
    one = History((rejected(10),), NOW - timedelta(days=10))
    verdict = decide(FARE_INCREASE, history=one)
    assert not verdict.decision.retrain
    assert verdict.decision.reason.startswith(
        "no retraining: back-off: 1 candidate(s) rejected against the live model, the last (c1) at "
        "2026-03-09 14:00; waiting 67.0 days (doubled after each rejection) until 2026-05-15 14:00, or until "
        "the excess grows significantly to 7.50 or more (now 5.00)"
    )
    assert decide(
        FARE_INCREASE, history=History((rejected(67 * 24),), NOW - timedelta(days=10))
    ).decision.retrain
    two = History((rejected(3000, candidate="c1"), rejected(2000, candidate="c2")), NOW - timedelta(days=10))
    held = decide(FARE_INCREASE, history=two)
    assert "2 candidate(s) rejected" in held.decision.reason and "waiting 134.0 days" in held.decision.reason
    later = NOW + timedelta(days=134) - timedelta(hours=2000)
    assert decide(FARE_INCREASE, history=two, now=later).decision.retrain
    # Compose's fast time: a back-off of minutes says so.
    brief = decide(FARE_INCREASE, Policy(training_window_days=0.01), history=History((rejected(0.1),)))
    assert "waiting 14 min (doubled after each rejection)" in brief.decision.reason


def test_only_a_significant_growth_of_the_excess_ends_the_back_off_early():
    # 5.0 now (standard error 5/30) against 3.0 then (0.3): 1.67 x, and 2.0 > 3 x 0.34
    assert decide(
        FARE_INCREASE, history=History((rejected(2, excess=3.0),), NOW - timedelta(days=10))
    ).decision.retrain
    # 1.67 x as well, but the windows' noise could make that difference
    noisy = History(
        (Rejection(NOW - timedelta(hours=2), "c1", Measured(500, 3.0, 0.9)),), NOW - timedelta(days=10)
    )
    assert not decide(FARE_INCREASE, history=noisy).decision.retrain
    # Significantly more, but not 1.5 x
    assert not decide(
        FARE_INCREASE, history=History((rejected(2, excess=4.0),), NOW - timedelta(days=10))
    ).decision.retrain
    unknown = History((rejected(2, excess=None),), NOW - timedelta(days=10))
    held = decide(FARE_INCREASE, history=unknown)
    assert "back-off" in held.decision.reason and "grows" not in held.decision.reason


def test_a_change_is_learnt_only_once_enough_of_it_was_served():
    fresh = History(excess_since=NOW - timedelta(hours=24))
    verdict = decide(FARE_INCREASE, history=fresh)
    assert not verdict.decision.retrain and verdict.significant
    assert verdict.decision.reason.startswith(
        "no retraining: waiting for 7.0 days more of the new world: the excess began with the window from "
        "2026-03-09 00:00 (24 h of it so far, 8.0 days wanted"
    )
    # The first check to see it: the window it covers is all that has been served of the change.
    assert "waiting for 7.0 days" in decide(FARE_INCREASE, history=History()).decision.reason
    assert decide(FARE_INCREASE, history=History(excess_since=NOW - timedelta(hours=192))).decision.retrain
    assert decide(
        FARE_INCREASE, Policy(min_new_data_hours=72), history=History(excess_since=NOW - timedelta(hours=72))
    ).decision.retrain


def test_a_model_trained_across_a_change_is_retrained_once_a_whole_window_of_the_new_world_is_there():
    change = NOW - timedelta(days=67)
    cured = History(cured_change_since=change)
    # Trained from before the change: retrained, even though its own errors look as expected.
    verdict = decide(AS_EXPECTED, history=cured, trained_from=(change - timedelta(days=3)).date())
    assert verdict.decision.retrain
    assert verdict.decision.reason.startswith(
        "retraining needed: completing the cure of the change seen from 2026-01-02 00:00: the live model was "
        "trained on trips from 2025-12-30, before it; a whole training window (67.0 days) of the new world"
    )
    # Not yet a whole window; trained on the new world only; or a candidate was rejected already: no.
    assert not decide(AS_EXPECTED, history=History(cured_change_since=NOW - timedelta(days=60)),
                      trained_from=(change - timedelta(days=3)).date()).decision.retrain  # fmt: skip
    assert not decide(AS_EXPECTED, history=cured, trained_from=change.date()).decision.retrain
    tried = History((rejected(30),), cured_change_since=change)
    assert not decide(
        AS_EXPECTED, history=tried, trained_from=(change - timedelta(days=3)).date()
    ).decision.retrain
    # The standing holds still hold it back.
    held = decide(AS_EXPECTED, history=cured, trained_from=(change - timedelta(days=3)).date(),
                  promoted_at=NOW - timedelta(hours=1))  # fmt: skip
    assert (
        held.decision.reason.startswith("no retraining: cooldown")
        and "completing the cure" in held.decision.reason
    )


def test_a_version_without_a_table_is_judged_by_its_evaluation_mae_and_says_so():
    untabled = Excess(500, 500, 7.1, 2.1, 2.1, 5.0, 30.0, 2500.0, False, stderr=5.0 / 30)
    reason = decide(untabled).decision.reason
    assert (
        "vs 2.10 expected for these trips (no expected-error table with this version: its evaluation MAE for every trip)"
        in reason
    )


def test_no_evidence_at_all_says_why():
    verdict = decide(None)
    assert not verdict.decision.retrain
    assert "has no evaluation MAE or expected-error table" in verdict.decision.reason
