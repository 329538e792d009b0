import json
import os
from datetime import date

import pytest

from taxifare.core.synth import generate
from taxifare.core.trips import DataStore

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A small synthetic history: 2024-03-01 .. 2024-04-30, trained on as of 2024-05-01.
START, END, NOW = date(2024, 3, 1), date(2024, 4, 30), "2024-05-01T00:00:00"


def make_store(path, n: int, seed: int = 7, **changes) -> DataStore:
    frame = generate(n, START, END, seed=seed)
    for column, values in changes.items():
        frame[column] = values
    store = DataStore(path)
    store.append(frame)
    return store


def train_args(data_uri, model_store_uri, outputs, *, version="v1", epochs=25, min_rows=500) -> list[str]:
    return [
        "train",
        "--data-uri", str(data_uri),
        "--model-store-uri", str(model_store_uri),
        "--train-days", "55",
        "--eval-days", "7",
        "--now", NOW,
        "--epochs", str(epochs),
        "--min-rows", str(min_rows),
        "--version", version,
        "--output-model-uri", str(outputs / "model_uri" / "data"),
        "--output-metrics", str(outputs / "metrics" / "data"),
        "--output-eval-data", str(outputs / "eval_data" / "data"),
    ]  # fmt: skip


@pytest.fixture
def store_factory():
    """make_store(path, n, seed=7, **column_overrides) -> DataStore of synthetic trips."""
    return make_store


@pytest.fixture
def train_argv():
    """train_args(data_uri, model_store_uri, outputs, version=, epochs=, min_rows=) -> argv of `train`."""
    return train_args


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One model trained through the CLI on synthetic trips, shared by the tests that only read it."""
    from taxifare.trainer.cli import main

    root = tmp_path_factory.mktemp("trained")
    make_store(root / "data", 4000)
    outputs = root / "outputs"
    assert main(train_args(root / "data", root / "models", outputs)) == 0
    return {
        "root": root,
        "outputs": outputs,
        "model_uri": (outputs / "model_uri" / "data").read_text(),
        "metrics": json.loads((outputs / "metrics" / "data").read_text()),
    }
