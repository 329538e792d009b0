"""The cost rule: retrain only when it pays, and say why in words a person can check.

In order, the first that applies answers:
0. completing a cure: the live model was trained on a window that began before the change it was
   trained to cure, and a whole training window (`training_window_days`) of the new world is there
   now: retrain once more, unless a hold applies or a candidate was rejected against it already. A
   model retrained soon after a change learns it from a few days, mixed with the old world (a
   weekday seen only before the change keeps the old prices), and its own evaluation, taken on those
   days, does not show what it still gets wrong;
1. too few known fares to measure the error (`min_actuals`): no retraining; the estimated error is
   reported, blind as it is to fare changes;
2. no significant excess (z below `mae_z`, in this window and pooled with the earlier windows of
   the current run of elevated excess): the model errs as it is expected to on these trips;
3. the excess costs less than a training run: what it cost on the known fares since it began, and
   what it will cost over the horizon at the window's traffic;
4. a hold: a run in flight, another check's claim, the cooldown after a deploy; a back-off after a
   rejected candidate (wait a whole training window, `training_window_days`, doubled after each
   further rejection, so that the next candidate learns from and is judged on data the rejected one
   never saw, unless the excess has grown since the check that asked for it, `backoff_growth` times
   and by more than its noise: both the run's pooled measurement); too little of the new world
   served yet (`min_new_data_hours` since the first check that saw the excess);
5. retraining needed.
Drift signals (mean gap, distribution) ride along in every reason, as evidence, never as the cause.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from taxifare.drift_checker.detectors import Signal
from taxifare.drift_checker.excess import CostModel, Excess, Measured, pool
from taxifare.drift_checker.history import ONSET_Z, History
from taxifare.drift_checker.policy import Decision, InFlightRun, PendingClaim, Policy, standing_hold


@dataclass(frozen=True)
class CostVerdict:
    decision: Decision
    significant: bool  # the excess passed the z-test (kept with the check: the onset of a change)
    projected_loss: float | None  # over the horizon, at the window's traffic
    since: datetime | None = None  # with a significant excess: when it began (the current run's onset)
    pooled: Measured | None = None  # this window's excess pooled with its run's (kept with the check)
    served_loss: float | None = None  # already served since the excess began, on its known fares


def decide_by_cost(
    signals: list[Signal],
    evidence: Excess | None,
    policy: Policy,
    mae_z: float,
    *,
    now: datetime,
    promoted_at: datetime | None,
    in_flight: InFlightRun | None,
    claim: PendingClaim | None,
    history: History,
    trained_from: date | None = None,
) -> CostVerdict:
    """`trained_from` is the first day of the live model's training data."""
    cost = CostModel(policy.retrain_cost, policy.error_cost, policy.horizon_hours)
    drift = _drift_seen(signals)
    completing = _completing_a_cure(history, trained_from, policy, now)
    if completing:
        hold = standing_hold(policy, now, promoted_at, in_flight, claim)
        if hold:
            return CostVerdict(
                Decision(False, True, f"no retraining: {hold} ({completing}{drift})"), False, None
            )
        return CostVerdict(Decision(True, True, f"retraining needed: {completing}{drift}"), False, None)
    if evidence is None:
        return _no(
            f"the live model has no evaluation MAE or expected-error table to judge its error by{drift}"
        )
    if evidence.n_known < max(policy.min_actuals, 1):
        estimate = (
            f"; estimated MAE {evidence.estimated_mae:.2f} on its {evidence.n} predictions (from their inputs: "
            "blind to a fare change)"
            if evidence.estimated_mae is not None
            else ""
        )
        return _no(
            f"too few known fares to measure the error: {evidence.n_known} < {policy.min_actuals}{estimate}{drift}"
        )
    pooled = _pooled(evidence, history)
    measured = _measured(evidence, pooled, history)
    significant = evidence.z >= mae_z or pooled.z >= mae_z
    if not significant:
        reason = f"no retraining: the error is what the model is expected to make on these trips: {measured} < {mae_z:g}){drift}"
        return CostVerdict(Decision(False, False, reason), False, None, pooled=pooled)
    projected = evidence.projected_loss(cost, policy.window_hours)
    served = pooled.served_loss(cost)
    loss = projected + served
    priced = (
        f"excess loss ≈ ${served:,.2f} served on {pooled.n_known} known fares + ${projected:,.2f} over the next "
        f"{cost.horizon_hours:g} h ({evidence.n} predictions in {policy.window_hours:g} h) = ${loss:,.2f} at "
        f"${cost.error_cost:g} per dollar of error"
    )
    if loss < cost.retrain_cost:
        reason = f"no retraining: {measured}), but {priced} < a training run's ${cost.retrain_cost:g}{drift}"
        return CostVerdict(Decision(False, False, reason), True, projected, pooled=pooled, served_loss=served)
    evidence_text = f"{measured}); {priced} > a training run's ${cost.retrain_cost:g}"
    since = history.excess_since or now - timedelta(hours=policy.window_hours)
    hold = (
        standing_hold(policy, now, promoted_at, in_flight, claim)
        or _backoff(history, pooled, policy, mae_z, now)
        or _waiting_for_data(since, policy, now)
    )
    if hold:
        decision = Decision(False, True, f"no retraining: {hold} (evidence: {evidence_text}{drift})")
        return CostVerdict(decision, True, projected, since, pooled, served)
    return CostVerdict(
        Decision(True, True, f"retraining needed: {evidence_text}{drift}"),
        True,
        projected,
        since,
        pooled,
        served,
    )


def _no(reason: str) -> CostVerdict:
    return CostVerdict(Decision(False, False, f"no retraining: {reason}"), False, None)


def _pooled(evidence: Excess, history: History) -> Measured:
    """This window's excess, pooled with the run's earlier windows when it continues the run."""
    window = Measured(evidence.n_known, evidence.excess, evidence.stderr or 0.0)
    if evidence.z < ONSET_Z or not history.elevated_windows:
        return window
    return pool([window, *history.elevated_windows])


def _measured(evidence: Excess, pooled: Measured, history: History) -> str:
    basis = (
        ""
        if evidence.table
        else " (no expected-error table with this version: its evaluation MAE for every trip)"
    )
    return (
        f"realised MAE {evidence.realised_mae:.2f} on {evidence.n_known} known fares vs "
        f"{evidence.expected_mae_known:.2f} expected for these trips{basis} (excess {evidence.excess:+.2f} "
        f"a prediction, z {evidence.z:.1f}"
        + (
            f"; {pooled.z:.1f} pooled over {len(history.elevated_windows) + 1} windows since "
            f"{history.excess_since:%Y-%m-%d %H:%M}"
            if pooled.n_known > evidence.n_known
            else ""
        )
    )


def _drift_seen(signals: list[Signal]) -> str:
    fired = [f"{s.name}: {s.detail}" for s in signals if s.fired and s.name != "performance"]
    return f"; drift seen, not a reason alone: {'; '.join(fired)}" if fired else ""


def _backoff(history: History, pooled: Measured, policy: Policy, mae_z: float, now: datetime) -> str | None:
    if not history.rejections:
        return None
    last = history.rejections[-1]
    count = len(history.rejections)
    wait = timedelta(days=policy.training_window_days * 2 ** (count - 1))
    if now - last.decided_at >= wait:
        return None
    then = last.asked
    if then is not None and then.excess > 0 and _grown(pooled, then, policy.backoff_growth, mae_z):
        return None
    grown = (
        f", or until the excess grows significantly to {policy.backoff_growth * then.excess:.2f} or more "
        f"(now {pooled.excess:.2f})"
        if then is not None and then.excess > 0
        else ""
    )
    return (
        f"back-off: {count} candidate(s) rejected against the live model, the last ({last.candidate}) at "
        f"{last.decided_at:%Y-%m-%d %H:%M}; waiting {_hours(wait)} (doubled after each rejection) until "
        f"{last.decided_at + wait:%Y-%m-%d %H:%M}{grown}"
    )


def _grown(now: Measured, then: Measured, growth: float, mae_z: float) -> bool:
    """More excess than `growth` times what was measured then, by more than the two differ by chance."""
    if now.excess < growth * then.excess:
        return False
    return now.excess - then.excess >= mae_z * math.hypot(now.stderr, then.stderr)


def _completing_a_cure(
    history: History, trained_from: date | None, policy: Policy, now: datetime
) -> str | None:
    change = history.cured_change_since
    if change is None or trained_from is None or history.rejections:
        return None
    window = timedelta(days=policy.training_window_days)
    if trained_from >= change.date() or now - change < window:
        return None
    return (
        f"completing the cure of the change seen from {change:%Y-%m-%d %H:%M}: the live model was trained on "
        f"trips from {trained_from}, before it; a whole training window ({_hours(window)}) of the new world "
        "is there now"
    )


def _waiting_for_data(since: datetime, policy: Policy, now: datetime) -> str | None:
    served = now - since
    needed = timedelta(hours=policy.min_new_data_hours)
    if served >= needed:
        return None
    return (
        f"waiting for {_hours(needed - served)} more of the new world: the excess began with the window "
        f"from {since:%Y-%m-%d %H:%M} ({_hours(served)} of it so far, {_hours(needed)} wanted so that a "
        "candidate learns it and is judged on it)"
    )


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.0f} h" if hours >= 2 else f"{hours * 60:.0f} min"
