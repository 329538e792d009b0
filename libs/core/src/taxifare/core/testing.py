"""Pytest fixtures every taxifare package's tests get (registered as the `taxifare` pytest plugin).

- `database_url`: a fresh, migrated database, once on SQLite and once on Postgres. Postgres comes from
  TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test); without it those cases are skipped
  with the reason shown.
- `postgres_url`: the same, Postgres only. `sqlite_url`: SQLite only.
- `settings_env`: TAXIFARE_STATE_DIR, DATABASE_URL, DATA_URI and MODEL_STORE_URI set under tmp_path.
- `free_port`, `real_data_dir` (the repository's `data/`), `gcs_emulator`.

Tests marked `docker` are skipped unless TAXIFARE_DOCKER_TESTS=1.
"""

import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from taxifare.core.config import load_settings
from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine

REPO_ROOT = Path(__file__).resolve().parents[5]


def _postgres_server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("Postgres case skipped: TEST_DATABASE_URL is not set")
    return url


def fresh_postgres_database(server_url: str, template: str | None = None):
    """Create a database beside the one in `server_url` (a copy of `template` if given).

    Returns (url, drop callable)."""
    name = f"taxifare_test_{uuid.uuid4().hex[:12]}"
    admin = connect_engine(server_url, isolation_level="AUTOCOMMIT")
    create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(create)
    except sa.exc.OperationalError as e:
        admin.dispose()
        pytest.skip(f"Postgres case skipped: cannot reach TEST_DATABASE_URL ({e.orig})")
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url, drop


# Migrating takes longer than copying: each session migrates one template per backend, and every
# test gets a copy of it.


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "taxifare.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path, _sqlite_template) -> str:
    target = tmp_path / "taxifare.db"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def _postgres_template():
    url, drop = fresh_postgres_database(_postgres_server_url())
    migrate.upgrade(url)
    yield make_url(url).database
    drop()


@pytest.fixture
def postgres_url(_postgres_template):
    url, drop = fresh_postgres_database(_postgres_server_url(), template=_postgres_template)
    yield url
    drop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def settings_env(tmp_path, monkeypatch, database_url):
    state = tmp_path / "state"
    monkeypatch.setenv("TAXIFARE_STATE_DIR", str(state))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_URI", str(state / "data"))
    monkeypatch.setenv("MODEL_STORE_URI", str(state / "models"))
    return load_settings()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real files shipped in the repository's `data/` folder (see its README)."""
    path = REPO_ROOT / "data"
    if not path.is_dir():
        pytest.skip(f"real data not found: expected the repository's data folder at {path}")
    return path


@pytest.fixture
def gcs_emulator(free_port, monkeypatch):
    """A gcp-storage-emulator on a free local port; STORAGE_EMULATOR_HOST points the client at it."""
    from taxifare.core.testing_gcs import start_gcs_emulator

    stop = start_gcs_emulator(free_port)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port}")
    yield f"http://127.0.0.1:{free_port}"
    stop()


def pytest_collection_modifyitems(config, items):
    """Tests marked `docker` build and run images, installing and starting Docker: they run only where
    TAXIFARE_DOCKER_TESTS=1 (CI and `make test-docker` set it)."""
    if os.environ.get("TAXIFARE_DOCKER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="docker test: set TAXIFARE_DOCKER_TESTS=1 or run make test-docker")
    for item in items:
        if item.get_closest_marker("docker") is not None:
            item.add_marker(skip)
