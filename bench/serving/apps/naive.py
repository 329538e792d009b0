"""(c) The naive baseline: Keras `model.predict` and one INSERT plus commit per request.

Environment: MODEL_DIR (a published model folder), DATABASE_URL.
"""

import os

import keras
import pandas as pd
import tensorflow as tf
from flask import Flask, request

from taxifare.core import clock
from taxifare.core.db import tables
from taxifare.core.db.engine import connect_engine
from taxifare.core.trips import MODEL_INPUTS, drift_features, model_inputs

DTYPES = {name: "float64" if name == "pickup_timestamp" else "float32" for name in MODEL_INPUTS}


class SavedModelFares(keras.layers.Layer):
    """The published SavedModel inside a Keras model, the way a first version of a service calls it."""

    def __init__(self, path: str):
        super().__init__()
        self._loaded = tf.saved_model.load(path)
        self._serve = self._loaded.signatures["serve"]

    def call(self, features):
        # Keras feeds float32 tensors whatever the Input dtype; the signature wants float64 time.
        features = {**features, "pickup_timestamp": tf.cast(features["pickup_timestamp"], tf.float64)}
        (fares,) = self._serve(**features).values()
        return fares


inputs = {name: keras.Input(shape=(), dtype=dtype, name=name) for name, dtype in DTYPES.items()}
model = keras.Model(inputs, SavedModelFares(os.path.join(os.environ["MODEL_DIR"], "saved_model"))(inputs))
engine = connect_engine(os.environ["DATABASE_URL"])
app = Flask(__name__)


@app.route("/v1/predict", methods=["POST"])
def predict():
    frame = pd.DataFrame(request.get_json()["instances"])
    frame["pickup_datetime"] = pd.to_datetime(frame["pickup_datetime"])
    fares = model.predict(model_inputs(frame), verbose=0).reshape(-1)
    rows = drift_features(frame).assign(
        created_at=clock.utcnow(),
        model_version="naive",
        request_id="naive",
        pickup_datetime=frame["pickup_datetime"].dt.to_pydatetime(),
        prediction=fares,
    )
    with engine.begin() as conn:
        conn.execute(tables.predictions.insert(), rows.to_dict("records"))
    return {"predictions": fares.tolist()}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
