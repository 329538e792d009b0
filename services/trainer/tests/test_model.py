import json
import subprocess
import sys
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from taxifare.core import storage
from taxifare.core.trips import haversine_km, model_inputs
from taxifare.trainer.features import (
    AIRPORT_RADIUS_KM,
    AIRPORTS,
    NUMERIC_FEATURES,
    OUTSIDE_CELL,
    TripFeatures,
)
from taxifare.trainer.model import load_saved_model, predict_saved


def raw_trip(when: str, pickup=(-73.99, 40.75), dropoff=(-73.95, 40.78), passengers=1.0) -> dict:
    seconds = (datetime.fromisoformat(when) - datetime(1970, 1, 1)).total_seconds()
    return {
        "pickup_timestamp": np.array([seconds], np.float64),
        "pickup_longitude": np.array([pickup[0]], np.float32),
        "pickup_latitude": np.array([pickup[1]], np.float32),
        "dropoff_longitude": np.array([dropoff[0]], np.float32),
        "dropoff_latitude": np.array([dropoff[1]], np.float32),
        "passenger_count": np.array([passengers], np.float32),
    }


def features_of(trip: dict, data_end: float = 2e9) -> dict:
    out = TripFeatures(data_end=data_end)(trip)
    numeric = np.asarray(out["numeric"])[0]
    return {
        **{name: float(numeric[i]) for i, name in enumerate(NUMERIC_FEATURES)},
        **{key: int(np.asarray(out[key])[0]) for key in ("hour_of_week", "pickup_cell", "dropoff_cell")},
    }


@pytest.mark.parametrize(
    ("when", "weekday", "hour"),
    [("2024-05-01T13:30:00", 2, 13), ("2024-05-05T23:59:59", 6, 23), ("1970-01-01T00:00:00", 3, 0)],
)
def test_hour_and_weekday_come_from_the_naive_local_timestamp(when, weekday, hour):
    features = features_of(raw_trip(when))
    assert features["hour_of_week"] == weekday * 24 + hour
    assert features["is_weekend"] == float(weekday >= 5)
    expected = datetime.fromisoformat(when)
    fraction = (expected.hour + expected.minute / 60 + expected.second / 3600) / 24
    assert features["hour_sin"] == pytest.approx(np.sin(2 * np.pi * fraction), abs=1e-4)


def test_distance_matches_the_core_haversine():
    trip = raw_trip("2024-05-01T12:00:00", pickup=(-73.99, 40.75), dropoff=(-73.78, 40.64))
    expected = haversine_km(-73.99, 40.75, -73.78, 40.64)
    assert features_of(trip)["distance_km"] == pytest.approx(float(expected), rel=1e-3)


def test_airport_flags_and_outside_cell():
    jfk = AIRPORTS["jfk"]
    trip = raw_trip("2024-05-01T12:00:00", pickup=(-73.99, 40.75), dropoff=jfk)
    features = features_of(trip)
    assert (features["dropoff_jfk"], features["dropoff_lga"], features["pickup_jfk"]) == (1.0, 0.0, 0.0)
    far = features_of(raw_trip("2024-05-01T12:00:00", pickup=(-75.0, 42.0)))
    assert far["pickup_cell"] == OUTSIDE_CELL
    assert far["dropoff_cell"] != OUTSIDE_CELL


def test_time_trend_is_clipped_at_the_end_of_the_training_data():
    end = (datetime(2024, 4, 30) - datetime(1970, 1, 1)).total_seconds()
    before = features_of(raw_trip("2023-04-30T00:00:00"), data_end=end)["years_before_data_end"]
    after = features_of(raw_trip("2026-01-01T00:00:00"), data_end=end)["years_before_data_end"]
    assert before == pytest.approx(-1.0, abs=0.01)
    assert after == 0.0


def eval_frame(trained) -> pd.DataFrame:
    return pd.read_parquet(trained["metrics"]["eval_data_uri"])


@pytest.mark.slow
def test_saved_model_serves_what_the_trained_model_predicted(trained):
    frame = eval_frame(trained)
    loaded = load_saved_model(storage.join(trained["model_uri"], "saved_model"))
    served = predict_saved(loaded, model_inputs(frame))
    labels = frame["fare_amount"].to_numpy()
    # The training run's metrics were computed with the Keras model before export.
    assert np.sqrt(np.mean((served - labels) ** 2)) == pytest.approx(trained["metrics"]["rmse"], rel=1e-4)
    assert served.mean() == pytest.approx(trained["metrics"]["prediction_mean"], rel=1e-4)


LOAD_WITHOUT_TRAINER = """
import json, sys
import numpy as np, tensorflow as tf
inputs = {k: np.asarray(v, dtype=np.float64 if k == "pickup_timestamp" else np.float32)
          for k, v in json.loads(sys.argv[2]).items()}
model = tf.saved_model.load(sys.argv[1])
fares = model.serve(**{k: tf.constant(v) for k, v in inputs.items()})
print(json.dumps({"fares": fares.numpy().tolist(),
                  "taxifare_modules": sorted(m for m in sys.modules if m.startswith("taxifare"))}))
"""


@pytest.mark.slow
def test_saved_model_loads_with_tensorflow_alone(trained):
    frame = eval_frame(trained).iloc[:20]
    inputs = model_inputs(frame)
    expected = predict_saved(load_saved_model(storage.join(trained["model_uri"], "saved_model")), inputs)
    done = subprocess.run(
        [
            sys.executable,
            "-I",  # isolated: no site customisation, no user paths, and the trainer is never imported
            "-c",
            LOAD_WITHOUT_TRAINER,
            storage.join(trained["model_uri"], "saved_model"),
            json.dumps({k: v.tolist() for k, v in inputs.items()}),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["taxifare_modules"] == []
    np.testing.assert_allclose(result["fares"], expected, rtol=1e-5)


def near_an_airport(lon, lat) -> np.ndarray:
    # Twice the model's radius: a trip that merely skirts an airport is left out too.
    return np.any([haversine_km(lon, lat, *a) < 2 * AIRPORT_RADIUS_KM for a in AIRPORTS.values()], axis=0)


@pytest.mark.slow
def test_a_longer_trip_never_costs_less(trained):
    """Stretch each trip along its own direction: the fare must not fall as the distance grows.

    Trips that start, end or are stretched near an airport are left out: airport fares are flat fares
    and surcharges tied to the place, so a trip just past an airport may rightly cost less.
    """
    loaded = load_saved_model(storage.join(trained["model_uri"], "saved_model"))
    inputs = model_inputs(eval_frame(trained).iloc[:300])
    dlon = inputs["dropoff_longitude"] - inputs["pickup_longitude"]
    dlat = inputs["dropoff_latitude"] - inputs["pickup_latitude"]
    stretches = (1.0, 1.25, 1.5, 2.0, 3.0)
    variants = []
    for stretch in stretches:
        variant = dict(inputs)
        variant["dropoff_longitude"] = (inputs["pickup_longitude"] + stretch * dlon).astype(np.float32)
        variant["dropoff_latitude"] = (inputs["pickup_latitude"] + stretch * dlat).astype(np.float32)
        variants.append(variant)
    airport = near_an_airport(inputs["pickup_longitude"], inputs["pickup_latitude"])
    for variant in variants:
        airport |= near_an_airport(variant["dropoff_longitude"], variant["dropoff_latitude"])
    assert (~airport).sum() >= 200, "the sample should hold mostly non-airport trips"
    fares = np.stack([predict_saved(loaded, v)[~airport] for v in variants])
    cheaper = (np.diff(fares, axis=0) < 0).any(axis=0)
    assert not cheaper.any(), f"{cheaper.sum()} of {len(cheaper)} trips got cheaper when longer"
