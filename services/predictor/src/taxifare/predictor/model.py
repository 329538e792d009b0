"""Loading a published model and calling its compiled `serve` function."""

import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from taxifare.core import clock, storage

log = logging.getLogger(__name__)

SIGNATURE = "serve"


class ModelLoadError(Exception):
    """A model version cannot be served; the message says which and why."""


@dataclass(frozen=True)
class ModelVersion:
    """A row of the registry, as much of it as serving needs."""

    version: str
    model_uri: str
    promoted_at: datetime | None = None
    metrics: dict = field(default_factory=dict)
    # The training data's coordinate and fare ranges (model_versions.input_bounds); None for
    # versions registered before they were stored.
    input_bounds: dict | None = None


@dataclass(frozen=True)
class LoadedModel:
    info: ModelVersion
    loaded_at: datetime
    _call: Callable[[dict[str, np.ndarray]], object]  # runs the compiled `serve` graph
    _keepalive: object  # the loaded SavedModel: its variables must outlive the function

    @property
    def version(self) -> str:
        return self.info.version

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Fares for a batch: one call of the compiled graph, no Keras predict loop."""
        return _fares(self._call(inputs))


def _fares(outputs) -> np.ndarray:
    (fares,) = outputs.values() if isinstance(outputs, dict) else (outputs,)
    return np.asarray(fares, dtype=np.float64).reshape(-1)


def _public_call(signature) -> Callable:
    return lambda inputs: signature(**inputs)


def _direct_call(signature) -> Callable | None:
    """The signature's graph called with its arguments already bound, or None where that is unavailable.

    A public signature call spends about 0.3 ms per call binding and checking its keyword arguments,
    as much as running this model's graph. This goes one level down, through TensorFlow internals
    (the version in constraints.txt has them); `load_model` only uses it when it gives exactly the
    public call's fares.
    """
    try:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops

        names = list(signature.function_type.parameters)
        dtypes = {
            name: spec.dtype.as_numpy_dtype for name, spec in signature.structured_input_signature[1].items()
        }
        graph = signature._inference_function
        captured = list(signature.captured_inputs)
        device = context.context().device_name
        run = graph.call_flat
    except (AttributeError, TypeError, KeyError):
        return None
    if sorted(names) != sorted(dtypes):
        return None

    def call(inputs: dict[str, np.ndarray]):
        tensors = [ops.EagerTensor(np.asarray(inputs[name], dtypes[name]), device, None) for name in names]
        (fares,) = run(*tensors, *captured)
        return fares

    return call


def load_model(info: ModelVersion, cache_dir: Path, now: datetime | None = None) -> LoadedModel:
    """Check, copy to the local cache and load a published model; ModelLoadError if it cannot serve."""
    tf = _tensorflow()
    local = _local_copy(info, cache_dir)
    try:
        loaded = tf.saved_model.load(str(local / "saved_model"))
    except Exception as e:  # TensorFlow raises many kinds; any of them means "cannot serve this"
        raise ModelLoadError(f"model {info.version!r}: SavedModel does not load: {e}") from None
    if SIGNATURE not in loaded.signatures:
        raise ModelLoadError(
            f"model {info.version!r} has no {SIGNATURE!r} signature (it has {sorted(loaded.signatures)})"
        )
    signature = loaded.signatures[SIGNATURE]
    model = LoadedModel(info, clock.resolve(now), _public_call(signature), loaded)
    _smoke_test(model)
    direct = _direct_call(signature)
    if direct is not None and _same_fares(model, direct):
        model = replace(model, _call=direct)
    else:
        log.warning("model %s: serving through the slower public signature call", info.version)
    return model


def _tensorflow():
    import tensorflow as tf  # imported here: the gunicorn master and the CLI never need it

    try:
        # One thread per op: gunicorn runs a worker per core, and the model is small.
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised by an earlier load in this process
    return tf


def _local_copy(info: ModelVersion, cache_dir: Path) -> Path:
    try:
        storage.verify_published(info.model_uri)
    except storage.StorageError as e:
        raise ModelLoadError(f"model {info.version!r}: {e}") from None
    if not storage.is_gcs(info.model_uri):
        return Path(info.model_uri)
    target = cache_dir / info.version
    if storage.is_published(target):
        return target
    # Download beside the target and rename, so a crash never leaves a half copy that looks complete.
    staging = cache_dir / f".{info.version}.{uuid.uuid4().hex[:8]}"
    try:
        storage.download_dir(info.model_uri, staging)
        storage.verify_published(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except storage.StorageError as e:
        raise ModelLoadError(f"model {info.version!r}: download failed: {e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# Trips the smoke test and the direct-call check send: a short ride, an airport run, a Sunday night.
CHECK_TRIPS = {
    "pickup_timestamp": np.float64([1.4e9, 1.43e9, 1.3e9]),
    "pickup_longitude": np.float32([-73.98, -73.78, -74.0]),
    "pickup_latitude": np.float32([40.75, 40.64, 40.72]),
    "dropoff_longitude": np.float32([-73.96, -73.98, -73.95]),
    "dropoff_latitude": np.float32([40.77, 40.76, 40.78]),
    "passenger_count": np.float32([1, 2, 5]),
}


def _same_fares(model: LoadedModel, direct: Callable) -> bool:
    for size in (1, 3):
        inputs = {name: values[:size] for name, values in CHECK_TRIPS.items()}
        try:
            fares = _fares(direct(inputs))
        except Exception as e:  # an internal API that changed shape fails in many ways
            log.warning("model %s: the direct call fails (%s)", model.version, e)
            return False
        if not np.array_equal(fares, model.predict(inputs)):
            return False
    return True


def _smoke_test(model: LoadedModel) -> None:
    """One prediction before the model goes live, so a wrong signature fails here, not on traffic."""
    inputs = {name: values[:1] for name, values in CHECK_TRIPS.items()}
    try:
        fares = model.predict(inputs)
    except Exception as e:
        raise ModelLoadError(
            f"model {model.version!r}: its {SIGNATURE!r} signature rejects the inputs: {e}"
        ) from None
    if fares.shape != (1,) or not np.isfinite(fares).all():
        raise ModelLoadError(f"model {model.version!r} returned {fares!r} for one trip, not one finite fare")
