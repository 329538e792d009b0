"""Engines for SQLite (the embedded default) and Postgres."""

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

# Several processes (predictor workers, pipeline steps, the checker) write the SQLite file at once:
# WAL lets readers proceed during a write, and the busy timeout makes writers wait instead of failing.
_SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=30000", "PRAGMA foreign_keys=ON")


def driver_url(url: str) -> sa.URL:
    """`url` with an explicit driver: plain postgresql:// means psycopg2, the driver taxifare ships
    (SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def connect_engine(url: str, **kwargs) -> sa.Engine:
    """An engine for `url`; for SQLite, creates the folder and sets WAL mode and a busy timeout."""
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        sa.event.listen(engine, "connect", _set_sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so BEGIN IMMEDIATE works.
        sa.event.listen(engine, "begin", _begin_sqlite)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **kwargs)


def is_sqlite(engine_or_conn) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def _set_sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _begin_sqlite(conn) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def write_transaction(engine: sa.Engine):
    """A connection in a transaction that takes the write lock up front.

    On SQLite (BEGIN IMMEDIATE) this serialises read-then-write sequences such as a promotion, which a
    deferred transaction would let two processes interleave; Postgres callers lock rows themselves.
    """
    conn = engine.connect()
    if is_sqlite(engine):
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
    return _TransactionContext(conn)


class _TransactionContext:
    def __init__(self, conn: sa.Connection):
        self._conn = conn

    def __enter__(self) -> sa.Connection:
        self._transaction = self._conn.begin()
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._transaction.commit()
            else:
                self._transaction.rollback()
        finally:
            self._conn.close()
