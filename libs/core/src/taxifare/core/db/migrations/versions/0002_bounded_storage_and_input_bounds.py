"""bounded storage and input bounds

Postgres: `predictions` and `actuals` become partitioned by day (on created_at and known_at), with
a partition for every day that holds rows, the next 7 days and a default one; every existing row
is kept. Their primary keys gain the partition column, as Postgres requires: (id, created_at) and
(request_id, known_at). SQLite keeps its tables as they are (pruning deletes rows there).

Both: `model_versions.input_bounds`, the training data's coordinate and fare ranges (NULL for
versions registered before: the predictor applies its outer box to them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:10:00.000000
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AHEAD_DAYS = 7
# table: (partition column, primary key, indexes (name, columns) besides it)
TABLES = {
    "predictions": (
        "created_at",
        ("id", "created_at"),
        (
            ("ix_predictions_created_at", "created_at"),
            ("ix_predictions_model_version_created_at", "model_version, created_at"),
            ("ix_predictions_request_id", "request_id"),
        ),
    ),
    "actuals": ("known_at", ("request_id", "known_at"), (("ix_actuals_known_at", "known_at"),)),
}
UNPARTITIONED_KEYS = {"predictions": ("id",), "actuals": ("request_id",)}


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_bounds", sa.JSON(), nullable=True))
    if op.get_context().dialect.name != "postgresql":
        return
    for table, (column, key, indexes) in TABLES.items():
        _rebuild(table, f"PARTITION BY RANGE ({column})", key, indexes)
        op.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
        old_days = op.get_bind().exec_driver_sql(f'SELECT DISTINCT {column}::date FROM "{table}_old"')
        today = datetime.now(UTC).date()  # timestamps are naive UTC
        days = {row[0] for row in old_days} | {today + timedelta(days=n) for n in range(AHEAD_DAYS + 1)}
        for day in sorted(days):
            op.execute(
                f'CREATE TABLE "{table}_{day:%Y%m%d}" PARTITION OF "{table}" '
                f"FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
            )
        _copy_and_drop_old(table, indexes)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table, (_column, _key, indexes) in TABLES.items():
            _rebuild(table, "", UNPARTITIONED_KEYS[table], indexes)
            _copy_and_drop_old(table, indexes)
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("input_bounds")


def _rebuild(table: str, partitioning: str, key: tuple[str, ...], indexes) -> None:
    """Rename `table` to `<table>_old` and create it anew, same columns and defaults."""
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_old"')
    op.execute(f'ALTER TABLE "{table}_old" RENAME CONSTRAINT "pk_{table}" TO "pk_{table}_old"')
    for name, _ in indexes:
        op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_old"')
    op.execute(
        f'CREATE TABLE "{table}" (LIKE "{table}_old" INCLUDING DEFAULTS, '
        f'CONSTRAINT "pk_{table}" PRIMARY KEY ({", ".join(key)})) {partitioning}'
    )
    if table == "predictions":
        # The id sequence belongs to the old table's column and would go with it.
        op.execute('ALTER SEQUENCE "predictions_id_seq" OWNED BY "predictions"."id"')


def _copy_and_drop_old(table: str, indexes) -> None:
    op.execute(f'INSERT INTO "{table}" SELECT * FROM "{table}_old"')
    op.execute(f'DROP TABLE "{table}_old"')
    # Built after the copy: one sort per index instead of an update per row.
    for name, columns in indexes:
        op.execute(f'CREATE INDEX "{name}" ON "{table}" ({columns})')
    op.execute(f'ANALYZE "{table}"')
