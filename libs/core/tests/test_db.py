import re

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taxifare.core.clock import utcnow
from taxifare.core.db import migrate, tables
from taxifare.core.db.cli import main as db_cli
from taxifare.core.db.engine import connect_engine, write_transaction

# Day partitions of predictions and actuals (Postgres) are tables too, but not the schema's own.
PARTITION = re.compile(r"(predictions|actuals)_(\d{8}|default)")


def _table_names(url):
    engine = connect_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
        return {name for name in names if not PARTITION.fullmatch(name)}
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_and_a_second_upgrade_is_a_no_op(database_url):
    assert _table_names(database_url) == set(tables.metadata.tables)
    before = migrate.current(database_url)
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == before == migrate.head()


def test_downgrade_removes_everything_and_upgrade_restores_it(database_url):
    migrate.downgrade(database_url)
    assert _table_names(database_url) == set()
    assert migrate.current(database_url) is None
    migrate.upgrade(database_url)
    assert _table_names(database_url) == set(tables.metadata.tables)


def _model(version, status):
    return {"version": version, "created_at": utcnow(), "model_uri": f"/m/{version}", "status": status}


def test_the_database_refuses_a_second_live_model(database_url):
    engine = connect_engine(database_url)
    with engine.begin() as conn:
        conn.execute(tables.model_versions.insert(), [_model("a", "live"), _model("b", "retired")])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(tables.model_versions.insert(), _model("c", "live"))
    with engine.connect() as conn:
        live = (
            conn.execute(
                sa.select(tables.model_versions.c.version).where(tables.model_versions.c.status == "live")
            )
            .scalars()
            .all()
        )
    assert live == ["a"]
    engine.dispose()


def test_the_database_refuses_an_unknown_status(database_url):
    engine = connect_engine(database_url)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(tables.model_versions.insert(), _model("x", "promoted"))
    engine.dispose()


def test_write_transaction_rolls_back_on_error(database_url):
    engine = connect_engine(database_url)
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        conn.execute(tables.model_versions.insert(), _model("x", "candidate"))
        raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.model_versions)).scalar() == 0
    engine.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_url):
    engine = connect_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()


def test_cli_upgrade_current_downgrade(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert db_cli(["--database-url", url, "upgrade"]) == 0
    assert migrate.head() in capsys.readouterr().out
    assert db_cli(["--database-url", url, "current"]) == 0
    assert capsys.readouterr().out.strip() == migrate.head()
    assert db_cli(["--database-url", url, "downgrade"]) == 0
    assert "base" in capsys.readouterr().out


def test_cli_reports_an_unreachable_database_without_the_password(capsys):
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(SystemExit) as exit_info:
        db_cli(["--database-url", url, "upgrade"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "cannot upgrade the database" in err
    assert "s3cret-pw" not in err
