import subprocess
import sys
import threading
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from taxifare.core.db import registry
from taxifare.core.db.engine import connect_engine, write_transaction
from taxifare.core.db.tables import model_versions

T0 = datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture
def engine(database_url):
    engine = connect_engine(database_url)
    yield engine
    engine.dispose()


def register(conn, version, run_id=None, **extra):
    row, _ = registry.register_candidate(
        conn,
        version=version,
        model_uri=f"/models/{version}",
        pipeline_run_id=run_id or f"run-{version}",
        **extra,
    )
    return row


def statuses(conn) -> dict[str, str]:
    return dict(conn.execute(sa.select(model_versions.c.version, model_versions.c.status)).all())


def test_register_candidate_stores_fields_and_metrics(engine):
    with engine.connect() as conn:
        row, created = registry.register_candidate(
            conn,
            version="v1",
            model_uri="/models/v1",
            pipeline_run_id="run-1",
            eval_data_uri="/runs/1/eval.parquet",
            data_start=date(2024, 1, 1),
            data_end=date(2024, 1, 31),
            train_rows=900,
            eval_rows=100,
            label_mean=12.5,
            label_std=7.25,
            eval_rmse=3.5,
            eval_mae=2.0,
            reference_stats={"distance_km": {"mean": 3.0, "edges": [0.0, 1.0]}},
            metrics={"rmse": 3.5, "mae": 2.0, "train_rows": 900},
            now=T0,
        )
        assert created
        assert (row.version, row.status, row.created_at, row.data_end) == (
            "v1",
            "candidate",
            T0,
            date(2024, 1, 31),
        )
        assert row.reference_stats == {"distance_km": {"mean": 3.0, "edges": [0.0, 1.0]}}
        assert registry.training_metrics_of(conn, "v1") == {"rmse": 3.5, "mae": 2.0, "train_rows": 900.0}
        assert not conn.in_transaction()


def test_register_candidate_is_idempotent_on_run_id(engine):
    with engine.connect() as conn:
        first, created_first = registry.register_candidate(
            conn, version="v1", model_uri="/m/v1", pipeline_run_id="run-1", metrics={"rmse": 3.0}
        )
        again, created_again = registry.register_candidate(
            conn, version="v1", model_uri="/m/v1", pipeline_run_id="run-1", metrics={"rmse": 3.0}
        )
        assert (created_first, created_again) == (True, False)
        assert again.id == first.id
        assert conn.execute(sa.select(sa.func.count()).select_from(model_versions)).scalar_one() == 1
        assert registry.training_metrics_of(conn, "v1") == {"rmse": 3.0}


def test_register_candidate_refuses_a_version_taken_by_another_run(engine):
    with engine.connect() as conn:
        register(conn, "v1", run_id="run-1")
        with pytest.raises(registry.RegistryError, match="already registered by pipeline run 'run-1'"):
            register(conn, "v1", run_id="run-2")


@pytest.mark.parametrize("metrics", [{"rmse": float("nan")}, {"rmse": "3"}, {"rmse": True}])
def test_register_candidate_refuses_non_finite_metrics(engine, metrics):
    with engine.connect() as conn:
        with pytest.raises(registry.RegistryError, match="finite"):
            registry.register_candidate(
                conn, version="v1", model_uri="/m", pipeline_run_id="r", metrics=metrics
            )
        assert registry.get_version(conn, "v1") is None


def test_promote_retires_the_previous_live_version(engine):
    with engine.connect() as conn:
        register(conn, "v1")
        register(conn, "v2")
        assert registry.promote(conn, "v1", now=T0) is None
        retired = registry.promote(conn, "v2", now=T0 + timedelta(hours=1))
        assert retired.version == "v1"
        assert statuses(conn) == {"v1": "retired", "v2": "live"}
        live = registry.live_version(conn)
        assert (live.version, live.promoted_at) == ("v2", T0 + timedelta(hours=1))
        assert registry.get_version(conn, "v1").retired_at == T0 + timedelta(hours=1)


def test_promote_is_idempotent(engine):
    with engine.connect() as conn:
        register(conn, "v1")
        registry.promote(conn, "v1", now=T0)
        assert registry.promote(conn, "v1", now=T0 + timedelta(days=1)) is None
        assert registry.live_version(conn).promoted_at == T0


def test_promote_refuses_unknown_and_rejected_versions(engine):
    with engine.connect() as conn:
        with pytest.raises(registry.RegistryError, match="no model version 'nope'"):
            registry.promote(conn, "nope")
        register(conn, "v1")
        registry.reject(conn, "v1")
        with pytest.raises(registry.RegistryError, match="rejected"):
            registry.promote(conn, "v1")
        assert registry.live_version(conn) is None


def test_reject_only_touches_candidates(engine):
    with engine.connect() as conn:
        register(conn, "v1")
        register(conn, "v2")
        registry.promote(conn, "v1")
        registry.reject(conn, "v2")
        registry.reject(conn, "v2")
        with pytest.raises(registry.RegistryError, match="is live"):
            registry.reject(conn, "v1")
        assert statuses(conn) == {"v1": "live", "v2": "rejected"}


def test_rollback_brings_back_the_previous_live_version(engine):
    with engine.connect() as conn:
        for version in ("v1", "v2", "v3"):
            register(conn, version)
        registry.promote(conn, "v1", now=T0)
        registry.promote(conn, "v2", now=T0 + timedelta(hours=1))
        registry.promote(conn, "v3", now=T0 + timedelta(hours=2))
        assert registry.previous_live(conn).version == "v2"

        gone, back = registry.rollback(conn, now=T0 + timedelta(hours=3))
        assert (gone.version, back.version, back.status) == ("v3", "v2", "live")
        assert statuses(conn) == {"v1": "retired", "v2": "live", "v3": "rejected"}

        # A second rollback goes further back rather than undoing the first.
        gone, back = registry.rollback(conn, now=T0 + timedelta(hours=4))
        assert (gone.version, back.version) == ("v2", "v1")
        with pytest.raises(registry.RegistryError, match="nothing to roll back to"):
            registry.rollback(conn)
        assert registry.live_version(conn).version == "v1"


def test_rollback_without_live_version(engine):
    with engine.connect() as conn, pytest.raises(registry.RegistryError, match="no live version"):
        registry.rollback(conn)


def test_a_promotion_waits_for_a_concurrent_one_and_leaves_one_live(engine):
    """Without the lock the second promoter sees no live version yet and both end up live."""
    with engine.connect() as conn:
        register(conn, "v1")
        register(conn, "v2")
    errors = []

    def promote_v2():
        try:
            with engine.connect() as conn:
                registry.promote(conn, "v2", now=T0 + timedelta(minutes=1))
        except Exception as e:  # reported below, a thread cannot raise into the test
            errors.append(e)

    with write_transaction(engine) as conn:
        registry.promote(conn, "v1", now=T0)
        other = threading.Thread(target=promote_v2)
        other.start()
        other.join(timeout=1.0)
    other.join(timeout=60)
    assert not errors
    with engine.connect() as conn:
        assert statuses(conn) == {"v1": "retired", "v2": "live"}


def test_racing_promotions_leave_exactly_one_live(engine):
    versions = [f"v{i}" for i in range(6)]
    with engine.connect() as conn:
        for version in versions:
            register(conn, version)
    start = threading.Barrier(len(versions))
    errors = []

    def promote(version):
        try:
            start.wait()
            with engine.connect() as conn:
                registry.promote(conn, version)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with engine.connect() as conn:
        found = statuses(conn)
    assert sorted(found.values()) == ["live"] + ["retired"] * (len(versions) - 1)


_PROMOTE_AND_HANG = """
import sys, time
from taxifare.core.db import registry
from taxifare.core.db.engine import connect_engine, write_transaction

with write_transaction(connect_engine(sys.argv[1])) as conn:
    registry.promote(conn, "v2")
    print("promoted, not committed", flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_deployer_killed_mid_promotion_leaves_the_registry_as_it_was(engine, database_url):
    with engine.connect() as conn:
        register(conn, "v1")
        register(conn, "v2")
        registry.promote(conn, "v1", now=T0)
    process = subprocess.Popen(
        [sys.executable, "-c", _PROMOTE_AND_HANG, database_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "promoted, not committed"
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()
    with engine.connect() as conn:
        assert statuses(conn) == {"v1": "live", "v2": "candidate"}
        # The dead process's lock is gone: the next deployer goes through.
        assert registry.promote(conn, "v2").version == "v1"
        assert statuses(conn) == {"v1": "retired", "v2": "live"}
