"""The fare model: raw trip fields in, fare out, every feature computed inside (see `features`).

fare = base(trip) + rate(trip) * distance_km, with rate >= 0: a fare is a flag-fall plus a charge per
distance, and the structure keeps the prediction rising with distance.
"""

from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from taxifare.trainer.features import (
    INPUT_DTYPES,
    N_HOUR_WEEKDAY,
    N_LOCATION_CELLS,
    TripFeatures,
)

# Normalised features beyond this many standard deviations are clipped.
NUMERIC_CLIP = 5.0


def as_model_inputs(columns: Mapping) -> dict[str, np.ndarray]:
    """The six raw fields of `columns` (a DataFrame or dict of arrays) with the model's dtypes."""
    missing = [name for name in INPUT_DTYPES if name not in columns]
    if missing:
        raise ValueError(f"model inputs lack {missing!r}")
    return {name: np.asarray(columns[name], dtype=dtype) for name, dtype in INPUT_DTYPES.items()}


def build_model(
    inputs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    hidden_units: tuple[int, ...] = (128, 64),
    learning_rate: float = 3e-3,
    dropout: float = 0.0,
    l2: float = 1e-5,
    cell_dim: int = 6,
    seed: int = 42,
) -> keras.Model:
    """A compiled model whose normalisation is adapted on `inputs` (the training rows)."""
    keras.utils.set_random_seed(seed)
    inputs = as_model_inputs(inputs)
    labels = np.asarray(labels, dtype=np.float32)
    trip_features = TripFeatures(data_end=float(inputs["pickup_timestamp"].max()), name="trip_features")
    normalise = keras.layers.Normalization(name="normalise")
    normalise.adapt(keras.ops.convert_to_numpy(trip_features(inputs)["numeric"]))

    raw = {name: keras.Input(shape=(), dtype=dtype, name=name) for name, dtype in INPUT_DTYPES.items()}
    features = trip_features(raw)
    regulariser = keras.regularizers.L2(l2)
    embedded = [
        keras.layers.Flatten()(
            keras.layers.Embedding(size, dim, embeddings_regularizer=regulariser, name=name)(
                keras.ops.expand_dims(features[key], -1)
            )
        )
        for key, size, dim, name in (
            ("hour_of_week", N_HOUR_WEEKDAY, 4, "hour_of_week_embedding"),
            ("pickup_cell", N_LOCATION_CELLS, cell_dim, "pickup_cell_embedding"),
            ("dropoff_cell", N_LOCATION_CELLS, cell_dim, "dropoff_cell_embedding"),
        )
        if dim
    ]
    # Clipped so that one odd coordinate far outside the training range cannot blow a prediction up.
    numeric = keras.ops.clip(normalise(features["numeric"]), -NUMERIC_CLIP, NUMERIC_CLIP)
    hidden = keras.layers.Concatenate()([numeric, *embedded])
    for units in hidden_units:
        hidden = keras.layers.Dense(units, activation="relu", kernel_regularizer=regulariser)(hidden)
        if dropout:
            hidden = keras.layers.Dropout(dropout)(hidden)
    label_mean, label_std = float(labels.mean()), float(labels.std() or 1.0)
    base = keras.layers.Dense(1, name="base")(hidden)
    rate = keras.layers.Dense(1, activation="softplus", name="rate_per_km")(hidden)
    fare = keras.layers.Lambda(
        lambda t: keras.ops.squeeze(label_mean + label_std * t[0] + t[1] * t[2], -1), name="fare"
    )([base, rate, features["distance_km"]])
    model = keras.Model(raw, fare, name="taxifare")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="mse",
        metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
    )
    return model


def as_dataset(
    inputs: Mapping, labels: np.ndarray | None = None, batch_size: int = 4096, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Batches for fit/predict. A tf.data pipeline keeps pickup_timestamp float64: Keras casts NumPy
    float64 inputs to float32, which would round timestamps by minutes and skew hours from serving."""
    tensors = as_model_inputs(inputs)
    if labels is not None:
        tensors = (tensors, np.asarray(labels, dtype=np.float32))
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(inputs["pickup_timestamp"]), seed=shuffle_seed)
    return dataset.batch(batch_size)


def predict(model, inputs: Mapping, batch_size: int = 4096) -> np.ndarray:
    """Fares predicted by a Keras model for `inputs`, as float64."""
    return np.asarray(model.predict(as_dataset(inputs, batch_size=batch_size), verbose=0), np.float64)


def export_saved_model(model: keras.Model, directory: str) -> None:
    """Write a SavedModel whose `serve` takes the raw fields by name and returns the fares ([batch])."""

    # One positional parameter per raw field: they become the signature's named inputs.
    def serve(  # noqa: PLR0917
        pickup_timestamp,
        pickup_longitude,
        pickup_latitude,
        dropoff_longitude,
        dropoff_latitude,
        passenger_count,
    ):
        return model(
            {
                "pickup_timestamp": pickup_timestamp,
                "pickup_longitude": pickup_longitude,
                "pickup_latitude": pickup_latitude,
                "dropoff_longitude": dropoff_longitude,
                "dropoff_latitude": dropoff_latitude,
                "passenger_count": passenger_count,
            },
            training=False,
        )

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=serve,
        input_signature=[tf.TensorSpec([None], dtype, name=name) for name, dtype in INPUT_DTYPES.items()],
    )
    archive.write_out(directory, verbose=False)


def load_saved_model(directory: str):
    """An exported model (call its `.serve`); needs TensorFlow only, no trainer code.

    Keep the returned object alive while using `.serve`: it owns the model's variables.
    """
    return tf.saved_model.load(directory)


def predict_saved(saved_model, inputs: Mapping, batch_size: int = 65_536) -> np.ndarray:
    """Fares predicted by a loaded SavedModel's `serve` function, as float64."""
    inputs = as_model_inputs(inputs)
    n = len(inputs["pickup_timestamp"])
    parts = [
        saved_model.serve(
            **{name: tf.constant(values[start : start + batch_size]) for name, values in inputs.items()}
        ).numpy()
        for start in range(0, n, batch_size)
    ]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
