"""Every local run leaves one row in pipeline_runs, on SQLite and on Postgres."""

import sample_components as p
import sqlalchemy as sa
from kfp import dsl

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import pipeline_runs
from taxifare.trigger.local_runner import HostExecutor, LocalRunner, RunRecorder, StepFailed, load_pipeline


def rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).mappings().all()


def test_runs_are_recorded_with_status_and_message(compile_pipeline, database_url, tmp_path):
    @dsl.pipeline(name="recorded")
    def recorded(a: int = 1, fail_code: int = 0):
        first = p.add(a=a, b=1)
        with dsl.If(fail_code > 0):
            p.fail(message="broken on purpose", code=fail_code).after(first)

    engine = connect_engine(database_url)
    runner = LocalRunner(HostExecutor(), tmp_path / "runs", recorder=RunRecorder(engine))
    pipeline = load_pipeline(compile_pipeline(recorded))

    good = runner.run(pipeline, {"a": "4"}, triggered_by="test", reason="first model")
    try:
        runner.run(pipeline, {"fail_code": "5"})
    except StepFailed:
        pass
    else:
        raise AssertionError("the failing run did not fail")

    first, second = rows(engine)
    assert first["id"] == good.record_id
    assert first["pipeline"] == "recorded"
    assert first["backend"] == "local-host"
    assert first["status"] == "succeeded"
    assert first["parameters"] == {"a": 4, "fail_code": 0}
    assert (first["triggered_by"], first["reason"]) == ("test", "first model")
    assert first["external_run_id"] == good.run_name
    assert first["created_at"] <= first["started_at"] <= first["finished_at"]
    assert second["status"] == "failed"
    assert "step 'condition-1/fail' failed: exit code 5" in second["message"]
    assert "broken on purpose" in second["message"]
    engine.dispose()


def test_a_row_created_by_the_caller_is_continued(compile_pipeline, database_url, tmp_path):
    @dsl.pipeline(name="continued")
    def continued():
        p.say(message="hi")

    engine = connect_engine(database_url)
    recorder = RunRecorder(engine)
    row_id = recorder.create("continued", "local-host", {}, triggered_by="drift-checker", reason="drift")
    assert rows(engine)[0]["status"] == "pending"
    runner = LocalRunner(HostExecutor(), tmp_path / "runs", recorder=recorder)
    runner.run(load_pipeline(compile_pipeline(continued)), record_id=row_id)
    (row,) = rows(engine)
    assert (row["id"], row["status"], row["reason"]) == (row_id, "succeeded", "drift")
    engine.dispose()
