"""The window's errors against the live model's expected errors, summed by the database.

One query over the live model's predictions in (start, end], joined to the fares known by `end`:
each prediction's expected error is a CASE over the bins of the version's expected-error table (or its
evaluation MAE when it has none), and the database returns the few sums `excess.excess_of` needs, the
same SQL on SQLite and Postgres, its cost growing with the window, not with the table.
"""

import functools
from datetime import datetime

import sqlalchemy as sa

from taxifare.core.db.tables import actuals, predictions
from taxifare.drift_checker.excess import ErrorAggregates


def expected_error_table(reference_stats: dict) -> dict | None:
    """The version's table, or None for a version stored before tables existed (or a malformed one)."""
    table = (reference_stats or {}).get("expected_error")
    if not isinstance(table, dict):
        return None
    edges, mae = table.get("edges"), table.get("mae")
    if not isinstance(edges, list) or not isinstance(mae, list) or len(edges) != len(mae) + 1 or not mae:
        return None
    return table


def aggregate_errors(
    conn: sa.Connection,
    model_version: str,
    *,
    start: datetime,
    end: datetime,
    table: dict | None,
    eval_mae: float | None,
) -> ErrorAggregates | None:
    """The sums of `ErrorAggregates`, or None when there is neither a table nor an evaluation MAE."""
    if table is not None:
        key = (tuple(float(e) for e in table["edges"][1:-1]), tuple(float(m) for m in table["mae"]))
    elif eval_mae:
        key = ((), (float(eval_mae),))
    else:
        return None
    row = conn.execute(_query(key), {"model_version": model_version, "start": start, "end": end}).one()
    return ErrorAggregates(
        n=int(row.n),
        expected_total=float(row.expected_total or 0.0),
        n_known=int(row.n_known or 0),
        abs_error_total=float(row.abs_error_total or 0.0),
        expected_known_total=float(row.expected_known_total or 0.0),
        difference_sq_total=float(row.difference_sq_total or 0.0),
        table=table is not None,
    )


# The statement depends on the table only, which changes with the live model: built once per model.
@functools.lru_cache(maxsize=8)
def _query(key: tuple[tuple[float, ...], tuple[float, ...]]) -> sa.Select:
    interior_edges, mae = key
    prediction = predictions.c.prediction
    if interior_edges:
        # Bin i holds predictions from edge i up to edge i+1; a value on an interior edge goes right.
        expected = sa.case(
            *((prediction < edge, mae[i]) for i, edge in enumerate(interior_edges)), else_=mae[-1]
        )
    else:
        expected = sa.literal(mae[0], sa.Float)
    known = actuals.c.request_id.is_not(None)
    error = sa.func.abs(prediction - actuals.c.fare_amount)
    difference = error - expected
    return (
        sa.select(
            sa.func.count().label("n"),
            sa.func.sum(expected).label("expected_total"),
            sa.func.sum(sa.case((known, 1), else_=0)).label("n_known"),
            sa.func.sum(error).label("abs_error_total"),
            sa.func.sum(sa.case((known, expected))).label("expected_known_total"),
            sa.func.sum(difference * difference).label("difference_sq_total"),
        )
        .select_from(
            predictions.outerjoin(
                actuals,
                sa.and_(
                    actuals.c.request_id == predictions.c.request_id,
                    # Fares known by the window's end; one is known after its trip, so after its start.
                    actuals.c.known_at > sa.bindparam("start"),
                    actuals.c.known_at <= sa.bindparam("end"),
                ),
            )
        )
        .where(
            predictions.c.model_version == sa.bindparam("model_version"),
            predictions.c.created_at > sa.bindparam("start"),
            predictions.c.created_at <= sa.bindparam("end"),
        )
    )
