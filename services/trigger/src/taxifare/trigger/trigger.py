"""Triggering a pipeline run through a backend, behind the in-flight guard of `runs`.

Every attempt leaves one row in pipeline_runs: started (then running, succeeded or failed), skipped
because another run is in flight, or failed with the reason it could not start.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.trigger import kfp_backend, runs
from taxifare.trigger.local_runner import Executor, HostExecutor, LocalRunner, load_pipeline
from taxifare.trigger.local_runner.executors import OutputSink
from taxifare.trigger.pipelines import compiled_package

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriggerResult:
    run_id: int
    status: str  # skipped | running (kfp: started on the cluster) | succeeded (local)
    external_run_id: str = ""
    message: str = ""


def trigger_local(
    engine: sa.Engine,
    pipeline: str,
    parameters: Mapping[str, Any],
    *,
    runs_dir: Path,
    reason: str | None,
    triggered_by: str | None,
    package: Path | None = None,
    sink: OutputSink | None = None,
    now: datetime | None = None,
    stale_after: timedelta = runs.DEFAULT_STALE_AFTER,
    executor: Executor | None = None,
) -> TriggerResult:
    """Run `pipeline` on this machine to the end (each step as a process here, unless `executor` says
    otherwise), unless a run of it is in flight.

    Raises the runner's PipelineError (the row is then failed) when the run cannot start or a step fails.
    """
    executor = executor or HostExecutor()
    start = runs.start_run(
        engine,
        pipeline,
        f"local-{executor.name}",
        reason=reason,
        parameters=parameters,
        triggered_by=triggered_by,
        now=now,
        stale_after=stale_after,
    )
    if not start.started:
        log.info("%s not started: %s", pipeline, start.message)
        return TriggerResult(start.run_id, "skipped", message=start.message or "")
    try:
        compiled = load_pipeline(package or compiled_package(pipeline))
        recorder = runs.RunRecorder(engine, now=(lambda: now) if now else clock.utcnow)
        runner = LocalRunner(executor, runs_dir, sink=sink, recorder=recorder)
        result = runner.run(compiled, dict(parameters), record_id=start.run_id)
    except BaseException as e:
        # Whatever stopped it before the runner recorded an outcome, the row must not stay in flight.
        runs.finish_run(engine, start.run_id, "failed", _reason(e), now=now, only_if_in_flight=True)
        raise
    return TriggerResult(start.run_id, result.status, result.run_name, result.message)


def trigger_kfp(
    engine: sa.Engine,
    pipeline: str,
    parameters: Mapping[str, Any],
    *,
    target: kfp_backend.KfpTarget,
    reason: str | None,
    triggered_by: str | None,
    experiment: str = kfp_backend.DEFAULT_EXPERIMENT,
    package: Path | None = None,
    pipeline_name: str | None = None,
    version_name: str | None = None,
    now: datetime | None = None,
    stale_after: timedelta = runs.DEFAULT_STALE_AFTER,
) -> TriggerResult:
    """Start `pipeline` on KFP (a compiled package, or an uploaded pipeline by name/version) unless a run
    of it is in flight; the row stays "running" until a later trigger sees the KFP run finished.

    Raises KfpError (the row is then failed) when KFP cannot be reached or refuses the run.
    """
    client, connect_error = None, None
    try:
        client = kfp_backend.connect(target)
        kfp_backend.refresh_in_flight(engine, client, target.host, pipeline)
    except kfp_backend.KfpError as e:
        connect_error = e
    start = runs.start_run(
        engine,
        pipeline,
        "kfp",
        reason=reason,
        parameters=parameters,
        triggered_by=triggered_by,
        now=now,
        stale_after=stale_after,
    )
    if not start.started:
        return TriggerResult(start.run_id, "skipped", message=start.message or "")
    try:
        if connect_error is not None:
            raise connect_error
        if package is None and pipeline_name is None:
            package = compiled_package(pipeline)
        external_id = kfp_backend.start_run(
            client,
            target.host,
            f"{pipeline} #{start.run_id}",
            parameters=parameters,
            experiment=experiment,
            package=package,
            pipeline_name=pipeline_name,
            version_name=version_name,
        )
    except BaseException as e:
        runs.finish_run(engine, start.run_id, "failed", _reason(e), now=now, only_if_in_flight=True)
        raise
    runs.mark_running(engine, start.run_id, external_id, now)
    return TriggerResult(start.run_id, "running", external_id, f"KFP run {external_id} started")


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt | SystemExit):
        return f"interrupted ({type(error).__name__})"
    return str(error) or type(error).__name__
