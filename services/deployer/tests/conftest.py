import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxifare.core import storage
from taxifare.core.db import registry
from taxifare.core.db.engine import connect_engine


@pytest.fixture
def engine(settings_env):
    engine = connect_engine(settings_env.database_url)
    yield engine
    engine.dispose()


class Models:
    """Trained-model stand-ins: a published artifact, a registered candidate and the step files."""

    def __init__(self, root: Path, model_store: str, engine):
        self.root = root
        self.model_store = model_store
        self.engine = engine
        rng = np.random.default_rng(7)
        self.fares = rng.gamma(2.0, 6.0, size=500) + 2.5
        self.eval_data_uri = str(root / "eval" / "eval.parquet")
        Path(self.eval_data_uri).parent.mkdir(parents=True)
        pd.DataFrame({"fare_amount": self.fares, "passenger_count": 1}).to_parquet(self.eval_data_uri)

    def candidate(self, version: str, rmse: float, label_mean: float = 14.0, **extra) -> Path:
        """Publish and register `version`; returns its metrics file."""
        source = self.root / "build" / version / "saved_model"
        source.mkdir(parents=True)
        (source / "saved_model.pb").write_bytes(f"graph of {version}".encode() * 100)
        model_uri = storage.join(self.model_store, version)
        storage.publish_dir(source.parent, model_uri)
        metrics = {
            "version": version,
            "model_uri": model_uri,
            "eval_data_uri": self.eval_data_uri,
            "data_start": "2024-04-01",
            "data_end": "2024-04-30",
            "train_rows": 4000,
            "eval_rows": len(self.fares),
            "rmse": rmse,
            "mae": rmse * 0.6,
            "label_mean": label_mean,
            "label_std": 8.0,
            "reference_stats": {},
            **extra,
        }
        with self.engine.connect() as conn:
            registry.register_candidate(
                conn,
                version=version,
                model_uri=model_uri,
                pipeline_run_id=f"run-{version}",
                eval_data_uri=self.eval_data_uri,
                eval_rmse=rmse,
                label_mean=label_mean,
            )
        return self.write(f"{version}.metrics.json", metrics)

    def live_metrics(self, version: str | None, rmse: float | None = None, n: int | None = None) -> Path:
        """What `trainer evaluate` writes for the live model `version` (None: no live model)."""
        if version is None:
            return self.write("live.json", {"model_uri": None})
        with self.engine.connect() as conn:
            model_uri = registry.get_version(conn, version).model_uri
        data = {"model_uri": model_uri, "rmse": rmse, "mae": rmse * 0.6, "n": n or len(self.fares)}
        return self.write(f"live-{version}.json", data)

    def write(self, name: str, data) -> Path:
        path = self.root / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def status(self, version: str) -> str:
        with self.engine.connect() as conn:
            return registry.get_version(conn, version).status


@pytest.fixture
def models(tmp_path, settings_env, engine) -> Models:
    return Models(tmp_path, settings_env.model_store_uri, engine)
