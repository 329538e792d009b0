"""Where one simulation keeps its state: a folder of its own, and a database of its own.

The folder is `<state dir>/<stream>-seed<seed>/<policy>/` with the data store, the model store and
the pipeline runs. The database is a SQLite file there, or, when DATABASE_URL names a Postgres
server, a database created beside the one it names (the simulator needs CREATE DATABASE there).
Both belong to the simulator: a run starts by clearing what an earlier run left, and a run that fails
removes what it wrote, so a reused state directory never holds half a simulation. A finished run
leaves `result.json` beside its folder.
"""

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from taxifare.core.config import mask_url
from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine


class WorkspaceError(RuntimeError):
    """The state cannot be prepared (an unreachable database, no right to create one); says why."""


@dataclass(frozen=True)
class Workspace:
    root: Path
    database_url: str
    # The database DATABASE_URL names, through which the simulation's own Postgres database is managed.
    admin_url: str | None = None

    @property
    def data_uri(self) -> str:
        return str(self.root / "data")

    @property
    def model_store_uri(self) -> str:
        return str(self.root / "models")

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def variables(self) -> dict[str, str]:
        """What the pipeline steps read, as on a real deployment."""
        return {
            "TAXIFARE_STATE_DIR": str(self.root),
            "DATABASE_URL": self.database_url,
            "DATA_URI": self.data_uri,
            "MODEL_STORE_URI": self.model_store_uri,
            "TAXIFARE_EXECUTOR": "in-process",
        }

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.update(self.variables())
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def check_database(base_url: str | None) -> None:
    """Fail now, before anything is written, when the database server cannot be reached."""
    if not _is_postgres(base_url):
        return
    engine = connect_engine(base_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise WorkspaceError(f"cannot reach the database {mask_url(base_url)}: {mask_url(reason)}") from None
    finally:
        engine.dispose()


def prepare(root: Path, base_url: str | None) -> Workspace:
    """A fresh, migrated workspace at `root` (what an earlier run left there is removed)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        if _is_postgres(base_url):
            workspace = Workspace(root, _fresh_postgres_database(base_url, root), admin_url=base_url)
        else:
            workspace = Workspace(root, f"sqlite:///{root / 'taxifare.db'}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        migrate.upgrade(workspace.database_url)
    except BaseException:
        discard(workspace)
        raise
    return workspace


def discard(workspace: Workspace) -> None:
    """Remove what a failed run wrote."""
    if workspace.admin_url:
        _drop_database(workspace.admin_url, make_url(workspace.database_url).database)
    shutil.rmtree(workspace.root, ignore_errors=True)


def _is_postgres(url: str | None) -> bool:
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


def _fresh_postgres_database(base_url: str, root: Path) -> str:
    base = make_url(base_url)
    # <base database>_sim_<run folder>, within Postgres' 63-character limit.
    name = slug(f"{base.database or 'taxifare'}_sim_{root.parent.name}_{root.name}").replace("-", "_")[:63]
    admin = connect_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise WorkspaceError(
            f"cannot create the simulation's database {name!r} on {mask_url(base_url)}: {mask_url(reason)} "
            "(the simulator needs a user that may create databases)"
        ) from None
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    admin = connect_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
