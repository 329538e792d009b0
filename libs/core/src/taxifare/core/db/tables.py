"""The database schema, as SQLAlchemy Core tables.

Every timestamp is stored as naive UTC: SQLite has no time zones, and one convention for both
backends keeps comparisons in SQL honest. Use `taxifare.core.clock.utcnow()` to make them.
Schema changes go through an Alembic migration in `migrations/versions/`.
"""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MODEL_STATUSES = ("candidate", "live", "retired", "rejected")
RUN_STATUSES = ("pending", "running", "succeeded", "failed", "skipped")

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("model_uri", sa.Text, nullable=False),
    sa.Column("eval_data_uri", sa.Text),
    sa.Column("data_start", sa.Date),
    sa.Column("data_end", sa.Date),
    sa.Column("train_rows", sa.Integer),
    sa.Column("eval_rows", sa.Integer),
    sa.Column("label_mean", sa.Float),
    sa.Column("label_std", sa.Float),
    sa.Column("eval_rmse", sa.Float),
    sa.Column("eval_mae", sa.Float),
    # Per-feature and prediction statistics of the training/evaluation data, for drift checks.
    sa.Column("reference_stats", sa.JSON),
    # The training data's ranges, {"pickup_latitude": [low, high], ..., "fare_amount": [low, high]}:
    # what the predictor accepts and serves for this version. NULL for versions registered before.
    sa.Column("input_bounds", sa.JSON),
    sa.Column("status", sa.String(16), nullable=False, server_default="candidate"),
    sa.Column("promoted_at", sa.DateTime),
    sa.Column("retired_at", sa.DateTime),
    # The pipeline run that registered it: a retried step finds its own row instead of adding one.
    sa.Column("pipeline_run_id", sa.String(128), unique=True),
    sa.CheckConstraint(f"status IN {MODEL_STATUSES!r}", name="status"),
)
sa.Index("ix_model_versions_status", model_versions.c.status)
# At most one live model, enforced by the database itself (a partial unique index on both backends).
_ONLY_LIVE = model_versions.c.status == "live"
sa.Index(
    "uq_model_versions_one_live",
    model_versions.c.status,
    unique=True,
    sqlite_where=_ONLY_LIVE,
    postgresql_where=_ONLY_LIVE,
)

training_metrics = sa.Table(
    "training_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_version_id",
        sa.Integer,
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.UniqueConstraint("model_version_id", "name"),
)

# On Postgres, predictions and actuals are partitioned by day (see db/partitions.py), and their
# primary keys include the partition column: (id, created_at) and (request_id, known_at).
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("pickup_datetime", sa.DateTime, nullable=False),
    sa.Column("pickup_longitude", sa.Float, nullable=False),
    sa.Column("pickup_latitude", sa.Float, nullable=False),
    sa.Column("dropoff_longitude", sa.Float, nullable=False),
    sa.Column("dropoff_latitude", sa.Float, nullable=False),
    sa.Column("passenger_count", sa.Integer, nullable=False),
    # Derived at serving time (haversine), so drift checks can aggregate it in SQL.
    sa.Column("distance_km", sa.Float, nullable=False),
    sa.Column("pickup_hour", sa.Integer, nullable=False),
    sa.Column("prediction", sa.Float, nullable=False),
)
# Drift checks read one model's predictions over a time window.
sa.Index("ix_predictions_model_version_created_at", predictions.c.model_version, predictions.c.created_at)
sa.Index("ix_predictions_created_at", predictions.c.created_at)
sa.Index("ix_predictions_request_id", predictions.c.request_id)

actuals = sa.Table(
    "actuals",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("fare_amount", sa.Float, nullable=False),
    sa.Column("known_at", sa.DateTime, nullable=False),
)
sa.Index("ix_actuals_known_at", actuals.c.known_at)

drift_checks = sa.Table(
    "drift_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("checked_at", sa.DateTime, nullable=False),
    sa.Column("model_version", sa.String(64)),
    sa.Column("window_start", sa.DateTime),
    sa.Column("window_end", sa.DateTime),
    sa.Column("n_predictions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_actuals", sa.Integer, nullable=False, server_default="0"),
    sa.Column("statistics", sa.JSON),
    sa.Column("decision", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)
sa.Index("ix_drift_checks_checked_at", drift_checks.c.checked_at)

deploy_decisions = sa.Table(
    "deploy_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("candidate_version", sa.String(64), nullable=False),
    sa.Column("live_version", sa.String(64)),
    sa.Column("candidate_rmse", sa.Float),
    sa.Column("baseline_rmse", sa.Float),
    sa.Column("margin", sa.Float),
    sa.Column("decision", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("external_run_id", sa.String(128)),
    sa.Column("triggered_by", sa.String(128)),
    sa.Column("reason", sa.Text),
    sa.Column("parameters", sa.JSON),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
)
sa.Index("ix_pipeline_runs_pipeline_status", pipeline_runs.c.pipeline, pipeline_runs.c.status)
