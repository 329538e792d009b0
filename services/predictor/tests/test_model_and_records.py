"""The direct graph call against the public signature, and prediction rows through a real database."""

import time
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from taxifare.core import storage
from taxifare.core.db import tables
from taxifare.core.db.engine import connect_engine
from taxifare.core.trips import drift_features
from taxifare.predictor.batch_writer import BatchWriter
from taxifare.predictor.model import ModelVersion, _public_call, _same_fares, load_model
from taxifare.predictor.records import PredictionLog, ServedBatch
from taxifare.predictor.validation import parse_predict_request

rng = np.random.default_rng(5)


def random_trips(n: int) -> dict[str, np.ndarray]:
    return {
        "pickup_timestamp": rng.uniform(1.2e9, 1.45e9, n),
        "pickup_longitude": rng.uniform(-74.05, -73.75, n).astype(np.float32),
        "pickup_latitude": rng.uniform(40.6, 40.85, n).astype(np.float32),
        "dropoff_longitude": rng.uniform(-74.05, -73.75, n).astype(np.float32),
        "dropoff_latitude": rng.uniform(40.6, 40.85, n).astype(np.float32),
        "passenger_count": rng.integers(1, 7, n).astype(np.float32),
    }


@pytest.fixture(scope="module")
def loaded(tiny_model_dirs, tmp_path_factory):
    published = tmp_path_factory.mktemp("store") / "v1"
    storage.publish_dir(tiny_model_dirs["a"], str(published))
    return load_model(ModelVersion("v1", str(published)), tmp_path_factory.mktemp("cache"))


def test_the_direct_call_serves_exactly_the_signatures_fares(loaded):
    signature = loaded._keepalive.signatures["serve"]
    assert loaded._call is not None
    for n in (1, 2, 7, 1000):
        inputs = random_trips(n)
        public = np.asarray(signature(**inputs)["output_0"], dtype=np.float64)
        assert np.array_equal(loaded.predict(inputs), public)


def test_a_direct_call_that_disagrees_is_not_used(loaded):
    public = replace(loaded, _call=_public_call(loaded._keepalive.signatures["serve"]))
    assert _same_fares(public, lambda inputs: public._call(inputs)["output_0"])
    assert not _same_fares(public, lambda inputs: public._call(inputs)["output_0"] + 0.01)

    def broken(inputs):
        raise TypeError("internal API changed")

    assert not _same_fares(public, broken)


def served(version: str, instances: list[dict], fares: list[float]) -> ServedBatch:
    trips = parse_predict_request({"instances": instances}, 10_000)
    return ServedBatch(datetime(2026, 1, 5, 9, 30), version, trips, np.array(fares))


TRIP = {
    "pickup_datetime": "2015-03-20T18:05:00",
    "pickup_longitude": -73.98,
    "pickup_latitude": 40.75,
    "dropoff_longitude": -73.87,
    "dropoff_latitude": 40.77,
    "passenger_count": 2,
}


def test_prediction_rows_hold_the_drift_features_and_survive_odd_versions(database_url):
    night = {
        **TRIP,
        "pickup_datetime": "2015-03-21T02:40:00.250000",
        "passenger_count": 5,
        "request_id": "r:2",
    }
    # Tab, backslash and newline are special in COPY's text format; a registry could hold them.
    odd = "v\t2\\x\nnew"
    engine = connect_engine(database_url)
    batches = [
        served("v1", [{**TRIP, "request_id": "r-1"}], [12.5]),
        served(odd, [night, TRIP], [7.25, 1e-05]),
    ]
    log = PredictionLog(engine)
    log.write([log.encode(b) for b in batches])
    with connect_engine(database_url).connect() as conn:
        rows = conn.execute(sa.select(tables.predictions).order_by(tables.predictions.c.id)).all()
    assert [r.model_version for r in rows] == ["v1", odd, odd]
    assert [r.request_id for r in rows[:2]] == ["r-1", "r:2"] and len(rows[2].request_id) == 32
    assert [r.prediction for r in rows] == pytest.approx([12.5, 7.25, 1e-05])
    assert rows[1].pickup_datetime == datetime(2015, 3, 21, 2, 40, 0, 250000)
    assert rows[1].created_at == datetime(2026, 1, 5, 9, 30)
    given = pd.DataFrame([TRIP, night]).drop(columns="request_id")
    given["pickup_datetime"] = pd.to_datetime(given["pickup_datetime"], format="ISO8601")
    expected = drift_features(given)
    for row, want in zip(rows[:2], expected.itertuples(), strict=True):
        assert row.distance_km == pytest.approx(want.distance_km)
        assert row.pickup_hour == want.pickup_hour and row.passenger_count == want.passenger_count


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_poison_row_among_1000_is_dropped_counted_and_logging_goes_on(backend, request):
    """What COPY (or an insert) cannot take must not stop the log: Postgres refuses a request id
    longer than its column, SQLite a missing one; every other row is written, and later ones too."""
    url = request.getfixturevalue(f"{backend}_url")
    engine = connect_engine(url)
    log = PredictionLog(engine)
    writer = BatchWriter(
        "predictions", log.write, max_rows=100_000, batch_rows=2000, flush_seconds=0.05,
        refused=log.refused, split=log.split,
    ).start()  # fmt: skip
    batches = [
        served("v1", [{**TRIP, "request_id": f"r-{i}-{j}"} for j in range(100)], [9.0] * 100)
        for i in range(10)
    ]
    # One more row in the middle request, the poison one.
    batches[5] = served("v1", [{**TRIP, "request_id": f"r-5-{j}"} for j in range(101)], [9.0] * 101)
    batches[5].trips.request_ids[100] = "p" * 65 if backend == "postgres" else None
    for batch in batches:
        writer.submit(log.encode(batch), len(batch.trips))
    deadline = time.monotonic() + 30
    while writer.written + writer.rejected < 1001:
        assert time.monotonic() < deadline, (writer.written, writer.rejected)
        time.sleep(0.05)
    assert (writer.written, writer.rejected) == (1000, 1)
    good = served("v1", [{**TRIP, "request_id": f"good-{j}"} for j in range(1000)], [9.0] * 1000)
    writer.submit(log.encode(good), 1000)
    assert writer.close(timeout=30) == 0
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(tables.predictions.c.request_id)).scalars())
    engine.dispose()
    assert len(ids) == 2000 and {f"good-{j}" for j in range(1000)} <= ids
    assert {f"r-{i}-{j}" for i in range(10) for j in range(100)} <= ids
    assert (writer.written, writer.rejected) == (2000, 1)
