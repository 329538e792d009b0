"""The in-process executor: steps' console scripts called inside the runner's process."""

import logging
import os
import signal
import sys

import pytest
import sample_components as p
import sqlalchemy as sa
from kfp import dsl

from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import pipeline_runs
from taxifare.trigger.local_runner import (
    InProcessExecutor,
    LocalRunner,
    StepFailed,
    in_process,
    load_pipeline,
)


@dsl.container_component
def upgrade_database():
    """`taxifare-db upgrade` on the DATABASE_URL of the step's environment."""
    return dsl.ContainerSpec(image=p.IMAGE, command=["taxifare-db"], args=["upgrade"])


@dsl.container_component
def database_revision(database_url: str):
    return dsl.ContainerSpec(
        image=p.IMAGE, command=["taxifare-db"], args=["--database-url", database_url, "current"]
    )


@dsl.container_component
def bad_usage():
    return dsl.ContainerSpec(image=p.IMAGE, command=["taxifare-db"], args=["sideways"])


@dsl.container_component
def unknown_script():
    return dsl.ContainerSpec(image=p.IMAGE, command=["taxifare-no-such-script"], args=[])


@dsl.container_component
def run_pipeline(package: str, run_id: dsl.OutputPath(str)):
    """A step that runs a pipeline of its own, as the retraining checker's trigger step does."""
    return dsl.ContainerSpec(
        image=p.IMAGE,
        command=["taxifare-trigger"],
        args=[
            "run",
            "retraining-checker",
            "--package",
            package,
            "--executor",
            "in-process",
            "--output-run-id",
            run_id,
        ],
    )


@pytest.fixture
def lines():
    return []


@pytest.fixture
def in_process_runner(tmp_path, lines):
    def make(env):
        return LocalRunner(
            InProcessExecutor(),
            tmp_path / "runs",
            env=env,
            sink=lambda task, line: lines.append((task, line)),
        )

    return make


def test_a_step_runs_in_this_process_with_its_own_environment(
    compile_pipeline, in_process_runner, lines, tmp_path
):
    @dsl.pipeline(name="migrate")
    def migrate_pipeline():
        upgrade_database()

    url = f"sqlite:///{tmp_path / 'step.db'}"
    assert "DATABASE_URL" not in os.environ
    root = logging.getLogger()
    handlers, level, sigterm = root.handlers[:], root.level, signal.getsignal(signal.SIGTERM)

    result = in_process_runner({"DATABASE_URL": url}).run(load_pipeline(compile_pipeline(migrate_pipeline)))

    assert result.status == "succeeded"
    assert (tmp_path / "step.db").is_file()
    assert lines == [("upgrade-database", f"{url} is at revision {migrate.current(url)}")]
    log_file = result.run_dir / "upgrade-database" / "log.txt"
    assert log_file.read_text() == f"{url} is at revision {migrate.current(url)}\n"
    # What the step saw is gone again: its environment, its logging set-up, its signal handlers.
    assert "DATABASE_URL" not in os.environ
    assert root.handlers == handlers and root.level == level
    assert signal.getsignal(signal.SIGTERM) == sigterm


def test_parameters_reach_the_script_as_arguments(compile_pipeline, in_process_runner, lines, tmp_path):
    @dsl.pipeline(name="revision")
    def revision(database_url: str):
        database_revision(database_url=database_url)

    runner = in_process_runner({})
    runner.run(
        load_pipeline(compile_pipeline(revision)), {"database_url": f"sqlite:///{tmp_path / 'new.db'}"}
    )
    assert lines == [("database-revision", "base (empty)")]


def test_a_usage_error_fails_the_step_with_its_exit_status_and_message(compile_pipeline, in_process_runner):
    @dsl.pipeline(name="usage")
    def usage():
        bad_usage()

    with pytest.raises(StepFailed) as failure:
        in_process_runner({}).run(load_pipeline(compile_pipeline(usage)))
    assert "exit code 2" in str(failure.value)
    assert "invalid choice: 'sideways'" in str(failure.value)


def test_a_command_that_no_package_installs_is_a_clear_failure(compile_pipeline, in_process_runner):
    @dsl.pipeline(name="unknown")
    def unknown():
        unknown_script()

    with pytest.raises(StepFailed) as failure:
        in_process_runner({}).run(load_pipeline(compile_pipeline(unknown)))
    assert "exit code 127" in str(failure.value)
    assert "no installed console script named 'taxifare-no-such-script'" in str(failure.value)


def test_an_exception_in_the_script_is_a_failed_step_with_its_traceback(
    compile_pipeline, in_process_runner, monkeypatch
):
    def crashing_main(args):
        raise RuntimeError(f"crashed on {args}")

    # A console script that raises stands in for a crash of any step.
    monkeypatch.setattr(in_process, "console_script", lambda name: crashing_main)

    @dsl.pipeline(name="crash")
    def crash():
        upgrade_database()

    with pytest.raises(StepFailed) as failure:
        in_process_runner({}).run(load_pipeline(compile_pipeline(crash)))
    message = str(failure.value)
    assert "exit code 1" in message
    assert "Traceback (most recent call last)" in message
    assert "RuntimeError: crashed on ['upgrade']" in message


def test_a_step_that_runs_a_pipeline_nests_and_passes_its_output_on(
    compile_pipeline, in_process_runner, tmp_path
):
    @dsl.pipeline(name="inner")
    def inner():
        upgrade_database()

    @dsl.pipeline(name="outer")
    def outer(package: str):
        run_pipeline(package=package)

    url = f"sqlite:///{tmp_path / 'nested.db'}"
    env = {"DATABASE_URL": url, "TAXIFARE_STATE_DIR": str(tmp_path / "state")}
    result = in_process_runner(env).run(
        load_pipeline(compile_pipeline(outer)), {"package": str(compile_pipeline(inner))}
    )

    inner_run = result.step("run-pipeline").outputs["run_id"]
    assert inner_run.startswith("inner-")
    assert (tmp_path / "state" / "runs" / inner_run / "upgrade-database" / "log.txt").is_file()
    with connect_engine(url).connect() as conn:
        recorded = conn.execute(sa.select(pipeline_runs.c.external_run_id, pipeline_runs.c.status)).all()
    assert recorded == [(inner_run, "succeeded")]
    assert "TAXIFARE_STATE_DIR" not in os.environ


def test_a_handler_that_keeps_the_step_output_writes_to_stderr_after_the_step(
    compile_pipeline, in_process_runner, monkeypatch, capfd
):
    kept = []

    def main_keeping_its_stream(args):
        kept.append(logging.StreamHandler(sys.stderr))  # as absl's handler does on import
        print("inside the step")

    monkeypatch.setattr(in_process, "console_script", lambda name: main_keeping_its_stream)

    @dsl.pipeline(name="keeps")
    def keeps():
        upgrade_database()

    result = in_process_runner({}).run(load_pipeline(compile_pipeline(keeps)))
    [handler] = kept
    handler.emit(logging.makeLogRecord({"msg": "after the step"}))
    handler.close()  # logging.shutdown at exit closes it: no error
    assert "after the step" in capfd.readouterr().err
    log_text = (result.run_dir / "upgrade-database" / "log.txt").read_text()
    assert log_text == "inside the step\n"
