"""Window aggregates computed by the database, so a check reads a handful of numbers, not the rows.

One query scans the live model's predictions in (start, end] through the index on
(model_version, created_at) and returns, per column, count, sum, sum of squares, min, max and the
number of values below each reference bin edge (a CASE expression an edge). A second query joins the
same window to the actual fares known by its end (and, as a fare is known after its trip was served,
after its start) for the absolute errors. Both are plain SQL aggregates, the same
on SQLite and Postgres, and their cost grows with the window, not with the table.
"""

import functools
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from taxifare.core.db.tables import actuals, predictions
from taxifare.drift_checker.detectors import ColumnWindow

# Columns of the predictions table that drift checks compare with the reference statistics.
DRIFT_COLUMNS = (
    "prediction",
    "distance_km",
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
    "pickup_hour",
)
# Columns with a handful of values: compared as categories (chi-square, Jensen-Shannon).
DISCRETE_COLUMNS = frozenset({"passenger_count", "pickup_hour"})


@dataclass(frozen=True)
class ErrorAggregates:
    count: int
    total_abs_error: float
    total_sq_abs_error: float


@dataclass(frozen=True)
class WindowAggregates:
    count: int
    columns: dict[str, ColumnWindow]
    errors: ErrorAggregates


def _in_window():
    return sa.and_(
        predictions.c.model_version == sa.bindparam("model_version"),
        predictions.c.created_at > sa.bindparam("start"),
        predictions.c.created_at <= sa.bindparam("end"),
    )


def aggregate_window(
    conn: sa.Connection, model_version: str, start: datetime, end: datetime, edges: dict[str, list[float]]
) -> WindowAggregates:
    """Aggregates of `model_version`'s predictions in (start, end]; `edges` maps column -> bin edges.

    Actual fares count only if known by `end`, so a check replayed at a past time sees what it saw then.
    """
    edges_key = tuple((name, tuple(column_edges)) for name, column_edges in edges.items())
    bounds = {"model_version": model_version, "start": start, "end": end}
    row = conn.execute(_window_query(edges_key), bounds).mappings().one()
    count = int(row["n"])
    columns = {
        name: ColumnWindow(
            count=count,
            total=float(row[f"{name}__sum"] or 0.0),
            total_sq=float(row[f"{name}__sumsq"] or 0.0),
            minimum=None if row[f"{name}__min"] is None else float(row[f"{name}__min"]),
            maximum=None if row[f"{name}__max"] is None else float(row[f"{name}__max"]),
            below=tuple(int(row[f"{name}__below{i}"] or 0) for i in range(len(column_edges))),
        )
        for name, column_edges in edges_key
    }
    errors = ErrorAggregates(*conn.execute(_ERRORS_QUERY, bounds).one())
    return WindowAggregates(count=count, columns=columns, errors=errors)


# Building ~100 CASE expressions costs more than running them on a small window; the edges change only
# with the live model, so the statement is built once per model.
@functools.lru_cache(maxsize=8)
def _window_query(edges_key: tuple[tuple[str, tuple[float, ...]], ...]) -> sa.Select:
    selected = [sa.func.count().label("n")]
    for name, column_edges in edges_key:
        column = sa.cast(predictions.c[name], sa.Float)
        selected += [
            sa.func.sum(column).label(f"{name}__sum"),
            sa.func.sum(column * column).label(f"{name}__sumsq"),
            sa.func.min(column).label(f"{name}__min"),
            sa.func.max(column).label(f"{name}__max"),
        ]
        selected += [
            sa.func.sum(sa.case((column < edge, 1), else_=0)).label(f"{name}__below{i}")
            for i, edge in enumerate(column_edges)
        ]
    return sa.select(*selected).where(_in_window())


def _errors_query() -> sa.Select:
    error = sa.func.abs(predictions.c.prediction - actuals.c.fare_amount)
    return (
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(error), 0.0),
            sa.func.coalesce(sa.func.sum(error * error), 0.0),
        )
        .select_from(predictions.join(actuals, actuals.c.request_id == predictions.c.request_id))
        # A fare is known after its trip was served, so known_at > start too: bounding both tables by
        # the window lets the planner use ix_actuals_known_at instead of scanning every actual.
        .where(
            _in_window(),
            actuals.c.known_at > sa.bindparam("start"),
            actuals.c.known_at <= sa.bindparam("end"),
        )
    )


_ERRORS_QUERY = _errors_query()
