"""The demo's own state: a fresh folder and the environment its children get.

The demo keeps everything under one state folder (default `.local/demo`): the SQLite database, the
trip data store, the model store, the pipeline runs, each child's log and the report. A second run
removes the folder a previous run left (it carries a marker file) and starts clean; it refuses to
delete a folder it did not make.
"""

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from taxifare.core.config import mask_url
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import model_versions

MARKER = ".taxifare-demo"


class StateError(RuntimeError):
    """The state folder or database cannot be used for a fresh demo; the message says what to do."""


@dataclass(frozen=True)
class DemoState:
    root: Path
    database_url: str

    @property
    def data_uri(self) -> Path:
        return self.root / "data"

    @property
    def models_uri(self) -> Path:
        return self.root / "models"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def report_path(self) -> Path:
        return self.root / "report.html"

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment of every child: this state's database and folders, the venv's scripts first."""
        env = dict(base)
        env.update(
            TAXIFARE_STATE_DIR=str(self.root),
            DATABASE_URL=self.database_url,
            DATA_URI=str(self.data_uri),
            MODEL_STORE_URI=str(self.models_uri),
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # Pipeline steps run inside the trigger's process: TensorFlow is imported once a run, not once a step.
        env.setdefault("TAXIFARE_EXECUTOR", "in-process")
        # The predictor asks the registry often, so the swap shows within a second of the deploy.
        env.setdefault("PREDICTOR_POLL_SECONDS", "1")
        return env


def prepare_state(root: Path, database_url: str | None) -> DemoState:
    """A fresh, empty state folder at `root`; the previous demo's folder is removed first."""
    root = root.resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise StateError(
                f"{root} exists and was not made by the demo; remove it or choose another --state-dir"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by taxifare-demo; removed by its next run\n")
    state = DemoState(root, database_url or f"sqlite:///{root / 'taxifare.db'}")
    if database_url:
        _require_empty(database_url)
    return state


def _require_empty(database_url: str) -> None:
    """A database given by DATABASE_URL must hold no model yet: the demo tells a story from scratch."""
    engine = connect_engine(database_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(model_versions)).scalar_one()
    except sa.exc.SQLAlchemyError:
        return  # not migrated yet: empty; `taxifare-db upgrade` reports real connection problems
    finally:
        engine.dispose()
    if count:
        raise StateError(
            f"the database {mask_url(database_url)} already holds {count} model version(s); the demo needs "
            "an empty one (unset DATABASE_URL to use the embedded SQLite file, or give a fresh database)"
        )
