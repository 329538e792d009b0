"""The retraining policy: turns the evidence and the state of the system into a decision and a reason.

Rules:
- `cost` (the default, `cost_rule`): retrain when the live model's excess error, measured on known
  fares against what it is expected to err on those trips, is significant and costs more over the
  horizon than a training run, and no hold applies (a run in flight, a claim, the cooldown, a back-off
  after a rejected candidate, too little data of the new world yet). Drift signals are evidence shown
  with the reason, never a reason alone.
- `signals`: retrain when any signal fires (mean gap, distribution, performance) and nothing holds it.
- `seed`: the original design's rule, the mean gap alone.

Pure: the caller reads the state (live model, runs in flight, earlier decisions) from the database.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from taxifare.drift_checker.detectors import Signal

RULES = ("cost", "signals", "seed")


@dataclass(frozen=True)
class Policy:
    rule: str = "cost"
    window_hours: float = 24.0  # predictions of the last H hours are checked
    min_predictions: int = 200  # fewer: no mean-gap or distribution verdict
    min_actuals: int = 100  # fewer known fares: no performance verdict, no measured excess
    cooldown_hours: float = 6.0  # no retraining this soon after a deploy
    # A "true" decision blocks other checkers until the trigger has recorded a run (or this long passed).
    claim_minutes: float = 60.0
    # The cost rule (see excess.CostModel for the units).
    retrain_cost: float = 5.0
    error_cost: float = 0.05
    horizon_hours: float = 168.0
    # After a rejected candidate: wait a whole training window (below), doubled after each further
    # rejection, unless the excess has grown significantly, by this factor, since the check that asked.
    backoff_growth: float = 1.5
    # A new world must have been served this long before a candidate is trained on it: the training
    # pipeline's evaluation days and one more (its defaults: 7 + 1 days), so the candidate is judged on
    # the new world only and has learnt some of it.
    min_new_data_hours: float = 192.0
    # The training pipeline's train_days + eval_days: once a new world fills a whole window, a live
    # model trained partly on the old one is retrained once more, and after a rejected candidate the
    # next one waits for a window of data the rejected one never saw (see cost_rule).
    training_window_days: float = 67.0


@dataclass(frozen=True)
class InFlightRun:
    """A run of the training pipeline in flight, as the trigger answered."""

    pipeline: str
    run_id: int
    status: str
    since: datetime


@dataclass(frozen=True)
class PendingClaim:
    """An earlier check said "true" and no run of the training pipeline has been recorded since."""

    check_id: int
    checked_at: datetime


@dataclass(frozen=True)
class Decision:
    retrain: bool
    drift_detected: bool
    reason: str


def decide(
    signals: list[Signal],
    policy: Policy,
    *,
    now: datetime,
    promoted_at: datetime | None,
    in_flight: InFlightRun | None,
    claim: PendingClaim | None,
) -> Decision:
    """The `signals` and `seed` rules: retrain when a signal fired and nothing holds it back; say why."""
    if policy.rule == "seed":
        signals = [s for s in signals if s.name == "mean_gap"]
    fired = [s for s in signals if s.fired]
    evaluated = [s for s in signals if s.evaluated]
    if not evaluated:
        details = "; ".join(s.detail for s in signals)
        return Decision(False, False, f"no retraining: too few samples ({details})")
    if not fired:
        details = "; ".join(s.detail for s in signals)
        return Decision(False, False, f"no retraining: no drift signal fired ({details})")
    seen = "; ".join(f"{s.name}: {s.detail}" for s in fired)
    blocker = standing_hold(policy, now, promoted_at, in_flight, claim)
    if blocker:
        return Decision(False, True, f"no retraining: {blocker} (drift seen: {seen})")
    return Decision(True, True, f"retraining needed: {seen}")


def standing_hold(
    policy: Policy,
    now: datetime,
    promoted_at: datetime | None,
    in_flight: InFlightRun | None,
    claim: PendingClaim | None,
) -> str | None:
    """What holds any rule back: a run in flight, another check's claim, the cooldown after a deploy."""
    if in_flight is not None:
        return (
            f"a {in_flight.pipeline} run is in flight "
            f"(run {in_flight.run_id}, {in_flight.status} since {in_flight.since:%Y-%m-%d %H:%M})"
        )
    if claim is not None:
        return (
            f"check {claim.check_id} at {claim.checked_at:%Y-%m-%d %H:%M:%S} already asked for retraining "
            "and its run is not recorded yet"
        )
    if promoted_at is not None and now - promoted_at < timedelta(hours=policy.cooldown_hours):
        age_hours = (now - promoted_at).total_seconds() / 3600
        return f"cooldown: the live model was deployed {age_hours:.1f} h ago (< {policy.cooldown_hours:g} h)"
    return None
