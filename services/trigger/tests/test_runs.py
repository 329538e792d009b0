"""The pipeline_runs records and the in-flight guard, on SQLite and on Postgres."""

import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import pipeline_runs
from taxifare.trigger import runs

T0 = datetime(2024, 5, 1, 12, 0)


@pytest.fixture
def engine(database_url):
    engine = connect_engine(database_url)
    yield engine
    engine.dispose()


def trigger(engine, pipeline="taxi-fare-predictor", now=T0, **kwargs):
    return runs.start_run(
        engine,
        pipeline,
        "local-host",
        reason="drift: prediction mean moved",
        parameters={"epochs": 3},
        triggered_by="retraining-checker",
        now=now,
        **kwargs,
    )


def all_rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).mappings().all()


def test_a_run_in_flight_blocks_a_second_trigger_until_it_finishes(engine):
    first = trigger(engine)
    runs.mark_running(engine, first.run_id, "taxi-fare-predictor-20240501", now=T0)
    second = trigger(engine, now=T0 + timedelta(minutes=5))

    assert first.started and not second.started
    assert second.blocking_id == first.run_id
    assert second.message == f"skipped: run {first.run_id} (taxi-fare-predictor-20240501) in flight"
    skipped = all_rows(engine)[1]
    assert (skipped["status"], skipped["message"]) == ("skipped", second.message)
    assert skipped["finished_at"] == T0 + timedelta(minutes=5)
    assert skipped["reason"] == "drift: prediction mean moved"

    runs.finish_run(engine, first.run_id, "succeeded", "3 step(s) succeeded", now=T0 + timedelta(hours=1))
    third = trigger(engine, now=T0 + timedelta(hours=1, minutes=1))
    assert third.started
    assert [r["status"] for r in all_rows(engine)] == ["succeeded", "skipped", "pending"]


def test_runs_of_other_pipelines_do_not_block(engine):
    assert trigger(engine, "taxi-fare-predictor").started
    assert trigger(engine, "retraining-checker").started
    assert not trigger(engine, "retraining-checker").started


def test_two_triggers_at_once_start_exactly_one_run(engine):
    """Two checkers deciding to retrain at the same moment, repeated to give a race every chance."""
    for round_ in range(8):
        pipeline = f"race-{round_}"
        barrier = threading.Barrier(2)
        results, errors = [], []

        def race(pipeline=pipeline, barrier=barrier, results=results, errors=errors):
            try:
                barrier.wait()
                results.append(trigger(engine, pipeline))
            except Exception as e:  # surfaced below: a thread's exception would otherwise vanish
                errors.append(e)

        threads = [threading.Thread(target=race) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        assert sorted(r.started for r in results) == [False, True], f"round {round_}"
        started = next(r for r in results if r.started)
        skipped = next(r for r in results if not r.started)
        assert skipped.blocking_id == started.run_id
    statuses = [r["status"] for r in all_rows(engine)]
    assert statuses.count("pending") == 8 and statuses.count("skipped") == 8


def test_a_stale_run_is_marked_failed_and_no_longer_blocks(engine):
    stuck = trigger(engine)
    runs.mark_running(engine, stuck.run_id, "lost-run", now=T0)

    within = trigger(engine, now=T0 + timedelta(hours=5, minutes=59))
    assert not within.started
    after = trigger(engine, now=T0 + timedelta(hours=6, minutes=1))
    assert after.started

    row = runs.get_run(engine, stuck.run_id)
    assert row.status == "failed"
    assert row.message.startswith("stale: in flight for more than 6 h")
    assert row.finished_at == T0 + timedelta(hours=6, minutes=1)


def test_the_stale_timeout_is_configurable(engine):
    trigger(engine)  # pending, never started: counts from its creation
    assert not trigger(engine, now=T0 + timedelta(minutes=20), stale_after=timedelta(minutes=30)).started
    assert trigger(engine, now=T0 + timedelta(minutes=31), stale_after=timedelta(minutes=30)).started
    assert "more than 0.5 h" in all_rows(engine)[0]["message"]


def test_a_cleanup_does_not_overwrite_a_recorded_outcome(engine):
    run = trigger(engine)
    runs.finish_run(engine, run.run_id, "succeeded", "done", now=T0)
    changed = runs.finish_run(engine, run.run_id, "failed", "interrupted", now=T0, only_if_in_flight=True)
    assert not changed
    assert runs.get_run(engine, run.run_id).status == "succeeded"


def test_a_finished_status_must_be_a_final_one(engine):
    run = trigger(engine)
    with pytest.raises(ValueError, match="not 'running'"):
        runs.finish_run(engine, run.run_id, "running")


def test_the_recorder_the_local_runner_uses_writes_through_the_same_functions(engine):
    recorder = runs.RunRecorder(engine, now=lambda: T0)
    run_id = recorder.create("manual", "local-host", {"a": 1}, triggered_by="cli", reason="try")
    recorder.started(run_id, "manual-run")
    assert not trigger(engine, "manual").started
    recorder.finished(run_id, False, "x" * (runs.MESSAGE_LIMIT + 10))
    row = runs.get_run(engine, run_id)
    assert (row.status, row.external_run_id, row.started_at) == ("failed", "manual-run", T0)
    assert len(row.message) == runs.MESSAGE_LIMIT


def test_the_lock_key_is_the_same_in_every_process():
    """Two triggers are separate processes: the advisory lock key must not depend on hash seeds."""
    code = "from taxifare.trigger.runs import advisory_lock_key as k; print(k('taxi-fare-predictor'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == runs.advisory_lock_key("taxi-fare-predictor")
    assert runs.advisory_lock_key("taxi-fare-predictor") != runs.advisory_lock_key("retraining-checker")
