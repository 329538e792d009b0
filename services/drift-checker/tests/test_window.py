import numpy as np
import pytest
import sqlalchemy as sa

from taxifare.core.db.tables import actuals
from taxifare.drift_checker import detectors
from taxifare.drift_checker.window import DISCRETE_COLUMNS, DRIFT_COLUMNS, aggregate_window, column_window


def layout(reference_stats: dict) -> tuple[dict, set]:
    bases = {c: detectors.basis_of(reference_stats[c], c in DISCRETE_COLUMNS) for c in DRIFT_COLUMNS}
    return {c: b.edges for c, b in bases.items()}, {c for c, b in bases.items() if b.categorical}


def test_database_aggregates_equal_numpy(engine, reference, sim):
    rng = np.random.default_rng(7)
    inside = sim.trips(rng, 400)
    start, end = sim.T0, sim.T0 + sim.hours(1)
    sim.log_traffic(engine, inside, start, end, actual_share=0.5, prefix="in")
    # Rows the window must leave out: before it, after it, and another model's.
    sim.log_traffic(engine, sim.trips(rng, 50), start - sim.hours(1), start, prefix="before")
    sim.log_traffic(engine, sim.trips(rng, 50), end, end + sim.hours(1), prefix="after")
    sim.log_traffic(engine, sim.trips(rng, 50), start, end, version="v0", prefix="other")
    edges, categorical = layout(reference.stats)
    assert categorical == {"passenger_count", "pickup_hour"}
    assert all(len(edges[c]) == 101 for c in DRIFT_COLUMNS if c not in categorical)

    with engine.connect() as conn:
        got = aggregate_window(conn, "v1", start, end, edges, categorical=categorical)

    assert got.count == 400
    for column in DRIFT_COLUMNS:
        expected = column_window(inside[column], edges[column], column in categorical)
        assert got.columns[column].counts == expected.counts, column
        assert got.columns[column].categories == expected.categories, column
        assert got.columns[column].count == 400
        assert got.columns[column].total == pytest.approx(expected.total, rel=1e-9), column
    assert sum(got.columns["passenger_count"].categories.values()) == 400
    errors = np.abs(inside["prediction"][:200] - inside["fare"][:200])
    assert got.errors.count == 200
    assert got.errors.total_abs_error == pytest.approx(errors.sum(), rel=1e-9)
    assert got.errors.total_sq_abs_error == pytest.approx((errors**2).sum(), rel=1e-9)


def test_values_on_an_edge_are_counted_like_the_reference_does(engine, sim):
    # Only interior edges split, a value on one belongs to the bin on its right, and values outside
    # the range land in the outer bins: the convention of taxifare.core.stats.
    data = sim.trips(np.random.default_rng(8), 100)
    data["passenger_count"] = np.array([1] * 50 + [2] * 30 + [6] * 20)
    data["distance_km"] = np.array([0.5] * 10 + [1.0] * 20 + [2.0] * 30 + [9.0] * 40)
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1))
    with engine.connect() as conn:
        got = aggregate_window(
            conn, "v1", sim.T0, sim.T0 + sim.hours(1),
            {"passenger_count": [1.0, 2.0, 6.0], "distance_km": [1.0, 2.0, 3.0], "prediction": []},
        )  # fmt: skip
    assert got.columns["passenger_count"].counts == (50, 50)
    assert got.columns["distance_km"].counts == (30, 70)
    assert got.columns["prediction"].counts == ()
    assert got.columns["prediction"].mean == pytest.approx(data["prediction"].mean())


def test_discrete_columns_are_counted_per_value(engine, sim):
    data = sim.trips(np.random.default_rng(9), 100)
    data["passenger_count"] = np.array([1] * 50 + [5] * 30 + [6] * 20)
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1))
    with engine.connect() as conn:
        got = aggregate_window(
            conn,
            "v1",
            sim.T0,
            sim.T0 + sim.hours(1),
            {"passenger_count": ()},
            categorical={"passenger_count"},
        )
    column = got.columns["passenger_count"]
    assert column.categories == {1.0: 50, 5.0: 30, 6.0: 20}
    assert (column.counts, column.total) == ((), 50 + 150 + 120)


def test_an_empty_window_has_no_counts(engine, reference, sim):
    edges, categorical = layout(reference.stats)
    with engine.connect() as conn:
        got = aggregate_window(conn, "v1", sim.T0, sim.T0 + sim.hours(1), edges, categorical=categorical)
    assert got.count == 0
    assert got.columns["distance_km"].counts == (0,) * 100
    assert got.columns["pickup_hour"].categories == {}
    assert got.columns["prediction"].mean is None


def test_actual_fares_known_after_the_window_end_are_not_used(engine, sim):
    data = sim.trips(np.random.default_rng(9), 20)
    start, end = sim.T0, sim.T0 + sim.hours(1)
    sim.log_traffic(engine, data, start, end, actual_share=1.0)
    with engine.begin() as conn:
        conn.execute(
            sa.update(actuals)
            .where(actuals.c.request_id.in_(["r0", "r1"]))
            .values(known_at=end + sim.hours(2))
        )
    with engine.connect() as conn:
        assert aggregate_window(conn, "v1", start, end, {}).errors.count == 18
        assert aggregate_window(conn, "v1", start, end + sim.hours(3), {}).errors.count == 20
