from datetime import datetime, timedelta

import pytest

from taxifare.core.config import ConfigError
from taxifare.drift_checker import config
from taxifare.drift_checker.detectors import Signal
from taxifare.drift_checker.policy import InFlightRun, PendingClaim, Policy, decide

NOW = datetime(2026, 3, 1, 12, 0)
FIRED = Signal("performance", True, True, "realised MAE 3.00 ...", {})
QUIET = Signal("mean_gap", False, True, "gap 0.01", {})
NOT_EVALUATED = Signal("distribution", False, False, "too few predictions: 10 < 200", {})


def test_a_fired_signal_means_retraining():
    decision = decide(
        [QUIET, FIRED], Policy(), now=NOW, promoted_at=NOW - timedelta(days=3), in_flight=None, claim=None
    )
    assert decision.retrain
    assert decision.reason.startswith("retraining needed: performance")


def test_the_seed_rule_listens_to_the_mean_gap_alone():
    seed = Policy(rule="seed")
    settled = dict(now=NOW, promoted_at=NOW - timedelta(days=3), in_flight=None, claim=None)
    assert not decide([QUIET, FIRED], seed, **settled).retrain
    gap = Signal("mean_gap", True, True, "gap 0.45 label std > 0.3", {})
    decision = decide([gap, FIRED], seed, **settled)
    assert decision.retrain
    assert decision.reason == "retraining needed: mean_gap: gap 0.45 label std > 0.3"


def test_nothing_evaluated_means_too_few_samples():
    decision = decide([NOT_EVALUATED], Policy(), now=NOW, promoted_at=None, in_flight=None, claim=None)
    assert not decision.retrain
    assert "too few samples" in decision.reason


def test_quiet_signals_say_so():
    decision = decide([QUIET, NOT_EVALUATED], Policy(), now=NOW, promoted_at=None, in_flight=None, claim=None)
    assert not decision.retrain
    assert "no drift signal fired" in decision.reason


@pytest.mark.parametrize(
    ("promoted_hours_ago", "retrain"), [(1.0, False), (5.9, False), (6.0, True), (30.0, True)]
)
def test_cooldown_after_a_deploy(promoted_hours_ago, retrain):
    decision = decide(
        [FIRED], Policy(cooldown_hours=6), now=NOW,
        promoted_at=NOW - timedelta(hours=promoted_hours_ago), in_flight=None, claim=None,
    )  # fmt: skip
    assert decision.retrain is retrain
    assert decision.drift_detected
    assert ("cooldown" in decision.reason) is not retrain


def test_in_flight_run_and_pending_claim_block():
    run = InFlightRun("taxi-fare-predictor", 7, "running", NOW - timedelta(minutes=5))
    blocked = decide([FIRED], Policy(), now=NOW, promoted_at=None, in_flight=run, claim=None)
    assert not blocked.retrain
    assert "run 7" in blocked.reason
    claimed = decide([FIRED], Policy(), now=NOW, promoted_at=None, in_flight=None, claim=PendingClaim(3, NOW))
    assert not claimed.retrain
    assert "check 3" in claimed.reason


def test_flags_win_over_environment_which_wins_over_defaults():
    env = {"DRIFT_MIN_PREDICTIONS": "50", "DRIFT_COOLDOWN_HOURS": "2.5", "DRIFT_MEAN_GAP": "0.4",
           "DRIFT_ALPHA": "0.02", "DRIFT_MIN_DISTANCE": "0.05"}  # fmt: skip
    policy, thresholds = config.build({"min_predictions": 10, "min_distance": 0.1}, env)
    assert policy.min_predictions == 10
    assert policy.cooldown_hours == 2.5
    assert (thresholds.mean_gap, thresholds.alpha, thresholds.min_distance) == (0.4, 0.02, 0.1)
    assert policy.window_hours == Policy().window_hours


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({}, {"DRIFT_MIN_PREDICTIONS": "many"}, "DRIFT_MIN_PREDICTIONS='many' is not a valid int"),
        ({"window_hours": 0.0}, {}, "--window-hours"),
        ({"alpha": 2.0}, {}, "--alpha / DRIFT_ALPHA must be between 0 and 1"),
        ({}, {"DRIFT_ALPHA": "0"}, "--alpha / DRIFT_ALPHA must be positive"),
        ({"min_distance": 1.5}, {}, "--min-distance / DRIFT_MIN_DISTANCE must be between 0 and 1"),
        ({"cooldown_hours": -1.0}, {}, "must not be negative"),
        ({}, {"DRIFT_RULE": "vibes"}, "--rule / DRIFT_RULE: 'vibes' is not one of cost, signals, seed"),
        ({"retrain_cost": 0.0}, {}, "--retrain-cost / DRIFT_RETRAIN_COST must be positive, got 0.0"),
        ({}, {"DRIFT_ERROR_COST": "-0.5"}, "--error-cost / DRIFT_ERROR_COST must not be negative"),
        ({"horizon_hours": 0.0}, {}, "--horizon-hours / DRIFT_HORIZON_HOURS must be positive"),
        ({}, {"DRIFT_HORIZON_HOURS": "nan"}, "must be a finite number, got nan"),
        ({"backoff_growth": 0.5}, {}, "--backoff-growth / DRIFT_BACKOFF_GROWTH must be at least 1"),
    ],
)
def test_bad_settings_are_named(flags, env, message):
    with pytest.raises(ConfigError, match=message):
        config.build(flags, env)
