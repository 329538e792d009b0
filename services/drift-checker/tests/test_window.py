import numpy as np
import pytest
import sqlalchemy as sa

from taxifare.core.db.tables import actuals
from taxifare.drift_checker.window import DRIFT_COLUMNS, aggregate_window


def test_database_aggregates_equal_numpy(engine, reference, sim):
    rng = np.random.default_rng(7)
    inside = sim.trips(rng, 400)
    start, end = sim.T0, sim.T0 + sim.hours(1)
    sim.log_traffic(engine, inside, start, end, actual_share=0.5, prefix="in")
    # Rows the window must leave out: before it, after it, and another model's.
    sim.log_traffic(engine, sim.trips(rng, 50), start - sim.hours(1), start, prefix="before")
    sim.log_traffic(engine, sim.trips(rng, 50), end, end + sim.hours(1), prefix="after")
    sim.log_traffic(engine, sim.trips(rng, 50), start, end, version="v0", prefix="other")
    edges = {c: reference.stats[c]["edges"] for c in DRIFT_COLUMNS}

    with engine.connect() as conn:
        got = aggregate_window(conn, "v1", start, end, edges)

    expected = sim.numpy_window(inside, reference.stats)
    assert got.count == 400
    for column in DRIFT_COLUMNS:
        g, e = got.columns[column], expected[column]
        assert g.below == e.below, column
        assert (g.minimum, g.maximum) == pytest.approx((e.minimum, e.maximum)), column
        assert g.total == pytest.approx(e.total, rel=1e-9), column
        assert g.total_sq == pytest.approx(e.total_sq, rel=1e-9), column
    errors = np.abs(inside["prediction"][:200] - inside["fare"][:200])
    assert got.errors.count == 200
    assert got.errors.total_abs_error == pytest.approx(errors.sum(), rel=1e-9)
    assert got.errors.total_sq_abs_error == pytest.approx((errors**2).sum(), rel=1e-9)


def test_values_on_an_edge_are_counted_like_the_reference_does(engine, sim):
    # Discrete columns put many values exactly on quantile edges: "below" must be strict, as in stats.
    data = sim.trips(np.random.default_rng(8), 100)
    data["passenger_count"] = np.array([1] * 50 + [2] * 30 + [6] * 20)
    sim.log_traffic(engine, data, sim.T0, sim.T0 + sim.hours(1))
    with engine.connect() as conn:
        got = aggregate_window(
            conn, "v1", sim.T0, sim.T0 + sim.hours(1), {"passenger_count": [1.0, 2.0, 6.0]}
        )
    assert got.columns["passenger_count"].below == (0, 50, 80)


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
