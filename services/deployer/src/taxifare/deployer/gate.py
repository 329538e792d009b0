"""check-deploy: decide whether the candidate goes live, record the decision, reject a loser.

A candidate is decided once: a retried step finds the recorded decision and repeats it, so the
pipeline's outcome cannot flip between attempts and no duplicate row appears.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db import registry
from taxifare.core.db.engine import write_transaction
from taxifare.core.db.tables import deploy_decisions
from taxifare.deployer.decision import Decision, against_baseline, against_live, mean_predictor_rmse
from taxifare.deployer.inputs import CandidateMetrics, InputError, LiveMetrics, read_labels


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    # True when an earlier attempt of this step had already decided this candidate.
    repeated: bool


def check_deploy(
    engine: sa.Engine,
    candidate: CandidateMetrics,
    live: LiveMetrics,
    *,
    margin: float,
    baseline_margin: float,
    now: datetime | None = None,
) -> Outcome:
    now = clock.resolve(now)
    with engine.connect() as conn:
        earlier = _recorded_decision(conn, candidate.version)
        if earlier is not None:
            return Outcome(earlier, repeated=True)
        row, live_row = _check_registry(conn, candidate, live)
    if row.status == "live":
        reason = f"{candidate.version} is already live"
        return Outcome(Decision(True, reason, candidate.rmse, candidate.rmse, margin), repeated=True)
    if live_row is not None:
        decision = against_live(candidate.rmse, live.rmse, margin, live_row.version)
    else:
        baseline = candidate.baseline_rmse
        if baseline is None:
            baseline = _baseline_rmse(candidate)
        decision = against_baseline(candidate.rmse, baseline, baseline_margin)
    with write_transaction(engine) as conn:
        earlier = _recorded_decision(conn, candidate.version)
        if earlier is not None:
            return Outcome(earlier, repeated=True)
        conn.execute(
            deploy_decisions.insert().values(
                decided_at=now,
                candidate_version=candidate.version,
                live_version=live_row.version if live_row is not None else None,
                candidate_rmse=decision.candidate_rmse,
                baseline_rmse=decision.compared_rmse,
                margin=decision.margin,
                decision=decision.deploy,
                reason=decision.reason,
            )
        )
        if not decision.deploy:
            registry.reject(conn, candidate.version)
    return Outcome(decision, repeated=False)


def _check_registry(
    conn: sa.Connection, candidate: CandidateMetrics, live: LiveMetrics
) -> tuple[sa.Row, sa.Row | None]:
    """The candidate's row and the live one; refuses inputs that disagree with the registry."""
    row = registry.get_version(conn, candidate.version)
    if row is None:
        raise InputError(f"candidate {candidate.version!r} is not registered: run write-metrics first")
    if row.status not in ("candidate", "live"):
        raise InputError(f"candidate {candidate.version!r} is {row.status}; only a candidate can be checked")
    live_row = registry.live_version(conn)
    if row.status == "live":
        return row, live_row
    if live.model_uri is None and live_row is not None:
        raise InputError(
            f"the live metrics say there is no live model, but {live_row.version!r} is live: "
            "re-score it with `trainer evaluate` on the candidate's evaluation data"
        )
    if live.model_uri is not None:
        if live_row is None:
            raise InputError(
                f"the live metrics score {live.model_uri!r}, but no version is live in the registry"
            )
        if _same_uri(live.model_uri, row.model_uri):
            raise InputError(f"the live metrics score the candidate itself ({live.model_uri!r})")
        if not _same_uri(live.model_uri, live_row.model_uri):
            raise InputError(
                f"the live metrics score {live.model_uri!r}, but the live version is {live_row.version!r} "
                f"at {live_row.model_uri!r}: the live model changed since it was evaluated"
            )
        if candidate.eval_rows is not None and live.n != candidate.eval_rows:
            raise InputError(
                f"the live model was scored on {live.n} rows but the candidate on {candidate.eval_rows}: "
                "they must be compared on the same evaluation data"
            )
    return row, live_row


def _baseline_rmse(candidate: CandidateMetrics) -> float:
    labels = read_labels(candidate.eval_data_uri)
    try:
        return mean_predictor_rmse(labels, candidate.label_mean)
    except ValueError as e:
        raise InputError(f"evaluation data {candidate.eval_data_uri!r}: {e}") from None


def _recorded_decision(conn: sa.Connection, version: str) -> Decision | None:
    row = conn.execute(
        sa.select(deploy_decisions)
        .where(deploy_decisions.c.candidate_version == version)
        .order_by(deploy_decisions.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Decision(row.decision, row.reason, row.candidate_rmse, row.baseline_rmse, row.margin)


def _same_uri(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")
