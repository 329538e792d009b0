"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 16:56:14.583203
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actuals",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("fare_amount", sa.Float(), nullable=False),
        sa.Column("known_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_actuals")),
    )
    with op.batch_alter_table("actuals", schema=None) as batch_op:
        batch_op.create_index("ix_actuals_known_at", ["known_at"], unique=False)

    op.create_table(
        "deploy_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("candidate_version", sa.String(length=64), nullable=False),
        sa.Column("live_version", sa.String(length=64), nullable=True),
        sa.Column("candidate_rmse", sa.Float(), nullable=True),
        sa.Column("baseline_rmse", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("decision", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deploy_decisions")),
    )
    op.create_table(
        "drift_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_end", sa.DateTime(), nullable=True),
        sa.Column("n_predictions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_actuals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("statistics", sa.JSON(), nullable=True),
        sa.Column("decision", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_checks")),
    )
    with op.batch_alter_table("drift_checks", schema=None) as batch_op:
        batch_op.create_index("ix_drift_checks_checked_at", ["checked_at"], unique=False)

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("model_uri", sa.Text(), nullable=False),
        sa.Column("eval_data_uri", sa.Text(), nullable=True),
        sa.Column("data_start", sa.Date(), nullable=True),
        sa.Column("data_end", sa.Date(), nullable=True),
        sa.Column("train_rows", sa.Integer(), nullable=True),
        sa.Column("eval_rows", sa.Integer(), nullable=True),
        sa.Column("label_mean", sa.Float(), nullable=True),
        sa.Column("label_std", sa.Float(), nullable=True),
        sa.Column("eval_rmse", sa.Float(), nullable=True),
        sa.Column("eval_mae", sa.Float(), nullable=True),
        sa.Column("reference_stats", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="candidate", nullable=False),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'live', 'retired', 'rejected')", name=op.f("ck_model_versions_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("pipeline_run_id", name=op.f("uq_model_versions_pipeline_run_id")),
        sa.UniqueConstraint("version", name=op.f("uq_model_versions_version")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("ix_model_versions_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_model_versions_one_live",
            ["status"],
            unique=True,
            sqlite_where=sa.text("status = 'live'"),
            postgresql_where=sa.text("status = 'live'"),
        )

    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("external_run_id", sa.String(length=128), nullable=True),
        sa.Column("triggered_by", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')",
            name=op.f("ck_pipeline_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index("ix_pipeline_runs_pipeline_status", ["pipeline", "status"], unique=False)

    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("pickup_datetime", sa.DateTime(), nullable=False),
        sa.Column("pickup_longitude", sa.Float(), nullable=False),
        sa.Column("pickup_latitude", sa.Float(), nullable=False),
        sa.Column("dropoff_longitude", sa.Float(), nullable=False),
        sa.Column("dropoff_latitude", sa.Float(), nullable=False),
        sa.Column("passenger_count", sa.Integer(), nullable=False),
        sa.Column("distance_km", sa.Float(), nullable=False),
        sa.Column("pickup_hour", sa.Integer(), nullable=False),
        sa.Column("prediction", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_predictions_model_version_created_at", ["model_version", "created_at"], unique=False
        )
        batch_op.create_index("ix_predictions_request_id", ["request_id"], unique=False)

    op.create_table(
        "training_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_training_metrics_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_metrics")),
        sa.UniqueConstraint(
            "model_version_id", "name", name=op.f("uq_training_metrics_model_version_id_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("training_metrics")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_request_id")
        batch_op.drop_index("ix_predictions_model_version_created_at")
        batch_op.drop_index("ix_predictions_created_at")

    op.drop_table("predictions")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_pipeline_runs_pipeline_status")

    op.drop_table("pipeline_runs")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_model_versions_one_live",
            sqlite_where=sa.text("status = 'live'"),
            postgresql_where=sa.text("status = 'live'"),
        )
        batch_op.drop_index("ix_model_versions_status")

    op.drop_table("model_versions")
    with op.batch_alter_table("drift_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_checks_checked_at")

    op.drop_table("drift_checks")
    op.drop_table("deploy_decisions")
    with op.batch_alter_table("actuals", schema=None) as batch_op:
        batch_op.drop_index("ix_actuals_known_at")

    op.drop_table("actuals")
