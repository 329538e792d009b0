"""The model artifact `MODEL_STORE_URI/<version>/`: saved_model/, metrics.json, eval.parquet.

The folder is assembled locally, checked, then published with `storage.publish_dir` (MANIFEST.json and
a `_SUCCESS` marker written last), so readers see a whole model or none.
"""

import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from taxifare.core import storage
from taxifare.core.trips import conform, model_inputs
from taxifare.trainer.model import export_saved_model, load_saved_model, predict_saved

SAVED_MODEL = "saved_model"
METRICS = "metrics.json"
EVAL_DATA = "eval.parquet"


class ArtifactError(Exception):
    """A model or evaluation set cannot be written or read; the message names the URI."""


def version_uri(model_store_uri: str, version: str) -> str:
    return storage.join(model_store_uri, version)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def publish_model(
    model, eval_frame: pd.DataFrame, eval_predictions: np.ndarray, metrics: dict, model_uri: str
) -> None:
    """Export, check that the export predicts what the Keras model did on the evaluation set
    (`eval_predictions`), then publish the folder."""
    if storage.is_published(model_uri):
        raise ArtifactError(f"{model_uri!r} already holds a published model; choose another --version")
    with tempfile.TemporaryDirectory(prefix="taxifare-model-") as tmp:
        export_saved_model(model, str(Path(tmp, SAVED_MODEL)))
        _check_export(str(Path(tmp, SAVED_MODEL)), eval_frame, eval_predictions)
        Path(tmp, METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True))
        Path(tmp, EVAL_DATA).write_bytes(parquet_bytes(eval_frame))
        storage.publish_dir(tmp, model_uri)


def _check_export(saved_model_dir: str, eval_frame: pd.DataFrame, eval_predictions: np.ndarray) -> None:
    sample = slice(0, 256)
    exported = predict_saved(load_saved_model(saved_model_dir), model_inputs(eval_frame.iloc[sample]))
    if not np.all(np.isfinite(exported)) or not np.allclose(
        exported, eval_predictions[sample], rtol=1e-4, atol=1e-3
    ):
        raise ArtifactError("the exported model does not reproduce the trained model's predictions")


def read_eval_data(uri: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(storage.read_bytes(uri)))
    except storage.StorageError as e:
        raise ArtifactError(f"evaluation data cannot be read: {e}") from None
    except (ValueError, OSError) as e:
        raise ArtifactError(f"evaluation data {uri!r} is not a Parquet file: {e}") from None
    return conform(frame)


def load_model(model_uri: str):
    """The published model at `model_uri` (checked against its manifest), loaded as a SavedModel."""
    try:
        storage.verify_published(model_uri)
    except storage.StorageError as e:
        raise ArtifactError(f"model cannot be used: {e}") from None
    source = storage.join(model_uri, SAVED_MODEL)
    if not storage.is_gcs(source):
        return load_saved_model(source)
    # The loaded model keeps what it needs in memory, so the download may go once loaded.
    with tempfile.TemporaryDirectory(prefix="taxifare-model-") as tmp:
        storage.download_dir(source, tmp)
        return load_saved_model(tmp)


def finite_json(data: dict) -> str:
    """JSON of `data`, refusing NaN/inf (which JSON cannot hold and readers would choke on)."""
    for name, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ArtifactError(f"{name} is not finite ({value}); nothing written")
    return json.dumps(data, indent=2, sort_keys=True)
