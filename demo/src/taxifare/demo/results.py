"""What the loop did, read back from the database: the demo shows only what the components recorded."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from taxifare.core.db.tables import (
    actuals,
    deploy_decisions,
    drift_checks,
    model_versions,
    pipeline_runs,
    predictions,
)


@dataclass(frozen=True)
class Realised:
    """Served predictions of one model in a time window, and their error where the fare is known."""

    model_version: str
    predictions: int
    with_actuals: int
    mae: float | None


def status_of(conn: sa.Connection, version: str) -> str | None:
    return conn.execute(
        sa.select(model_versions.c.status).where(model_versions.c.version == version)
    ).scalar()


def versions(conn: sa.Connection) -> list[sa.Row]:
    return conn.execute(sa.select(model_versions).order_by(model_versions.c.id)).all()


def newest_check(conn: sa.Connection) -> sa.Row | None:
    return conn.execute(sa.select(drift_checks).order_by(drift_checks.c.id.desc()).limit(1)).first()


def checks(conn: sa.Connection) -> list[sa.Row]:
    return conn.execute(sa.select(drift_checks).order_by(drift_checks.c.id)).all()


def decisions(conn: sa.Connection) -> list[sa.Row]:
    return conn.execute(sa.select(deploy_decisions).order_by(deploy_decisions.c.id)).all()


def decision_for(conn: sa.Connection, candidate: str) -> sa.Row | None:
    return conn.execute(
        sa.select(deploy_decisions)
        .where(deploy_decisions.c.candidate_version == candidate)
        .order_by(deploy_decisions.c.id.desc())
        .limit(1)
    ).first()


def runs(conn: sa.Connection, pipeline: str | None = None) -> list[sa.Row]:
    query = sa.select(pipeline_runs).order_by(pipeline_runs.c.id)
    if pipeline is not None:
        query = query.where(pipeline_runs.c.pipeline == pipeline)
    return conn.execute(query).all()


def realised(conn: sa.Connection, start: datetime, end: datetime) -> list[Realised]:
    """Per model version, predictions served in [start, end] and the MAE of those with a known fare."""
    error = sa.func.abs(predictions.c.prediction - actuals.c.fare_amount)
    rows = conn.execute(
        sa.select(
            predictions.c.model_version,
            sa.func.count(predictions.c.id),
            sa.func.count(actuals.c.fare_amount),
            sa.func.avg(error),
        )
        .select_from(predictions.outerjoin(actuals, actuals.c.request_id == predictions.c.request_id))
        .where(predictions.c.created_at >= start, predictions.c.created_at <= end)
        .group_by(predictions.c.model_version)
        .order_by(sa.func.min(predictions.c.id))
    ).all()
    return [Realised(v, int(n), int(k), None if mae is None else float(mae)) for v, n, k, mae in rows]


def logged_counts(conn: sa.Connection, start: datetime) -> tuple[int, int]:
    """Predictions logged since `start`, and how many of them have their actual fare recorded."""
    n_predictions = conn.execute(
        sa.select(sa.func.count()).select_from(predictions).where(predictions.c.created_at >= start)
    ).scalar_one()
    n_actuals = conn.execute(
        sa.select(sa.func.count())
        .select_from(predictions.join(actuals, actuals.c.request_id == predictions.c.request_id))
        .where(predictions.c.created_at >= start)
    ).scalar_one()
    return int(n_predictions), int(n_actuals)
