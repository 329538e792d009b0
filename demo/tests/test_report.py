"""The report's charts: round ticks, lines broken at gaps, one line per model version."""

import math
from datetime import datetime, timedelta

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import actuals, predictions
from taxifare.demo.report import CHUNK, served_by_version
from taxifare.demo.svg import Series, line_chart, nice_ticks

START = datetime(2024, 5, 1, 12, 0)


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(13.65, 175.06) == [50, 100, 150]
    assert nice_ticks(0, 12.5) == [0, 5, 10]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_a_nan_breaks_the_line():
    chart = line_chart("t", "x", "y", [Series("s", [1, 2, 3, 4], [1.0, 2.0, math.nan, 3.0], "#000")], [])
    assert chart.count("<polyline") == 2


def _serve(conn, version: str, *, first: int, count: int, at: datetime, fare_error: float) -> None:
    rows = [
        dict(created_at=at + timedelta(milliseconds=i), model_version=version, request_id=f"r{first + i}",
             pickup_datetime=at, pickup_longitude=-73.98, pickup_latitude=40.75, dropoff_longitude=-73.97,
             dropoff_latitude=40.76, passenger_count=1, distance_km=1.5, pickup_hour=12, prediction=10.0)
        for i in range(count)
    ]  # fmt: skip
    conn.execute(predictions.insert(), rows)
    conn.execute(
        actuals.insert(),
        [{"request_id": r["request_id"], "fare_amount": 10.0 + fare_error, "known_at": at} for r in rows],
    )


def test_served_lines_are_per_version_and_break_at_pauses(sqlite_url):
    engine = connect_engine(sqlite_url)
    with engine.begin() as conn:
        _serve(conn, "v1", first=0, count=CHUNK * 2, at=START + timedelta(seconds=10), fare_error=4.0)
        _serve(
            conn, "v1", first=1000, count=CHUNK, at=START + timedelta(seconds=100), fare_error=4.0
        )  # after a pause
        _serve(conn, "v2", first=2000, count=CHUNK, at=START + timedelta(seconds=120), fare_error=-1.0)
    with engine.connect() as conn:
        served = served_by_version(conn, START)
    engine.dispose()
    assert list(served) == ["v1", "v2"]
    v1 = served["v1"]
    assert len(v1.seconds) == 4 and math.isnan(v1.prediction_mean[2])  # 2 chunks, a break, 1 chunk
    assert [m for m in v1.mae if not math.isnan(m)] == [4.0, 4.0, 4.0]
    assert served["v2"].mae == [1.0]
