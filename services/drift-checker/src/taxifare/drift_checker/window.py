"""Window aggregates computed by the database, so a check reads a few hundred numbers, not the rows.

One statement reads the live model's predictions in (start, end] once, through the index on
(model_version, created_at), into a common table expression, and groups it once per column: by the
reference bin each value falls in (a binary search written as nested CASE expressions, about seven
comparisons a value for 100 bins) or, for a discrete column, by the value itself. Each group returns
its count and sum, so the column's mean comes with its histogram. A
second query joins the same window to the actual fares known by its end (and, as a fare is known
after its trip was served, after its start) for the absolute errors. Both are plain SQL, the same on
SQLite and Postgres (which materialise a CTE that is read more than once), and their cost grows with
the window, not with the table.

`column_window` computes the same aggregates from values in memory: the tests check the SQL against
it, and the benchmark uses it to evaluate many windows without a database.
"""

import functools
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from taxifare.core.db.tables import actuals, predictions
from taxifare.core.stats import bin_counts
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
# Columns with a handful of values: compared on their own categories (chi-square).
DISCRETE_COLUMNS = frozenset({"passenger_count", "pickup_hour"})
# The `part` of the window's own row count in the statement's result.
_TOTAL = -1


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
    conn: sa.Connection,
    model_version: str,
    start: datetime,
    end: datetime,
    edges: Mapping[str, Sequence[float]],
    *,
    categorical: Collection[str] = (),
) -> WindowAggregates:
    """Aggregates of `model_version`'s predictions in (start, end] for the columns in `edges`.

    `edges` maps a column to the reference's bin edges its values are counted in (fewer than two: its
    count and sum only); a column in `categorical` is counted per value instead. Actual fares count only
    if known by `end`, so a check replayed at a past time sees what it saw then.
    """
    layout = tuple(
        (name, () if name in categorical else tuple(column_edges), name in categorical)
        for name, column_edges in edges.items()
    )
    bounds = {"model_version": model_version, "start": start, "end": end}
    groups = defaultdict(list)
    for part, key, *aggregates in conn.execute(_window_query(layout), bounds):
        groups[part].append((key, *aggregates))
    count = int(groups[_TOTAL][0][1]) if groups[_TOTAL] else 0
    columns = {
        name: _column_from_groups(groups[part], count, len(column_edges) - 1, is_categorical)
        for part, (name, column_edges, is_categorical) in enumerate(layout)
    }
    errors = ErrorAggregates(*conn.execute(_ERRORS_QUERY, bounds).one())
    return WindowAggregates(count=count, columns=columns, errors=errors)


def _column_from_groups(groups: list[tuple], count: int, n_bins: int, categorical: bool) -> ColumnWindow:
    """One column's ColumnWindow from its (key, count, sum) groups."""
    present = [(key, int(n), float(total)) for key, n, total in groups if n]
    counts = [0] * max(n_bins, 0)
    if not categorical and n_bins > 0:
        for key, n, _ in present:
            counts[int(key)] = n
    return ColumnWindow(
        count=count,
        total=sum(total for _, _, total in present),
        counts=tuple(counts),
        categories={float(key): n for key, n, _ in present} if categorical else {},
    )


def _bin_index(column, interior: tuple[float, ...]):
    """SQL for the number of interior edges <= column: its bin (see taxifare.core.stats), by bisection."""

    def between(lo: int, hi: int):
        if lo == hi:
            return sa.literal_column(str(lo))
        mid = (lo + hi) // 2
        return sa.case((column < interior[mid], between(lo, mid)), else_=between(mid + 1, hi))

    return between(0, len(interior))


# Building the CASE trees costs more than running them on a small window; the edges change only with
# the live model, so the statement is built once per model.
@functools.lru_cache(maxsize=8)
def _window_query(layout: tuple[tuple[str, tuple[float, ...], bool], ...]) -> sa.CompoundSelect:
    columns = [predictions.c[name] for name, _, _ in layout] or [predictions.c.id]  # none: just count
    window = sa.select(*columns).where(_in_window()).cte("window_rows")
    parts = [
        sa.select(
            sa.literal_column(str(_TOTAL)), sa.literal_column("0"), sa.func.count(), sa.null()
        ).select_from(window)
    ]
    for part, (name, column_edges, categorical) in enumerate(layout):
        # Integers are summed as floats, as everything else; floats need no cast, which would cost a
        # conversion at every comparison of the CASE tree.
        value = window.c[name]
        if not isinstance(value.type, sa.Float):
            value = sa.cast(value, sa.Float)
        if categorical:
            key = window.c[name]
        elif len(column_edges) >= 2:
            key = _bin_index(value, column_edges[1:-1])
        else:
            key = None  # count and sum only: one group, present even when the window is empty
        select = sa.select(
            sa.literal_column(str(part)),
            sa.literal_column("0") if key is None else key,
            sa.func.count(),
            sa.func.sum(value),
        ).select_from(window)
        parts.append(select if key is None else select.group_by(key))
    return sa.union_all(*parts)


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


def column_window(values: np.ndarray, edges: Sequence[float] = (), categorical: bool = False) -> ColumnWindow:
    """What `aggregate_window` returns for a column holding `values`, computed in memory."""
    values = np.asarray(values, dtype=np.float64)
    categories = {}
    if categorical:
        keys, key_counts = np.unique(values, return_counts=True)
        categories = {float(k): int(c) for k, c in zip(keys, key_counts, strict=True)}
    return ColumnWindow(
        count=int(values.size),
        total=float(values.sum()),
        counts=() if categorical else tuple(bin_counts(values, list(edges))),
        categories=categories,
    )
