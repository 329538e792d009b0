"""The trigger's subcommands of `taxifare-trigger`: run, schedule, upload, schedule-kfp.

- `run PIPELINE --backend local|kfp`: start a run, unless one of that pipeline is in flight.
- `schedule PIPELINE --every SECONDS`: the local stand-in for a KFP recurring run.
- `upload` / `schedule-kfp`: put a compiled pipeline on KFP, and run it on a cron there.
- `in-flight PIPELINE`: whether a run of it is in flight (KFP runs refreshed first), as JSON, for the
  retraining checker, which asks here instead of reading the run records itself.
"""

import argparse
import json
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path

from taxifare.core import clock
from taxifare.core.config import load_settings
from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine
from taxifare.trigger import kfp_backend, runs
from taxifare.trigger.cron import CronError
from taxifare.trigger.local_runner import EXECUTOR_ENV, EXECUTORS, create_executor, print_sink
from taxifare.trigger.pipelines import PIPELINE_FILES, UnknownPipeline, compiled_package
from taxifare.trigger.trigger import TriggerResult, trigger_kfp, trigger_local

log = logging.getLogger(__name__)


class UsageError(ValueError):
    """Options that do not go together."""


# What these commands raise for bad input or an unreachable KFP: a message, not a traceback.
ERRORS = (kfp_backend.KfpError, CronError, UnknownPipeline, UsageError)
PIPELINE_HELP = f"pipeline name ({', '.join(sorted(PIPELINE_FILES))})"


def add_executor_option(parser) -> None:
    parser.add_argument(
        "--executor",
        choices=sorted(EXECUTORS),
        help=f"how local steps run: host (a process here), docker (each in its image) or in-process "
        "(each step's console script called in this process: one import of TensorFlow per run); default: "
        f"${EXECUTOR_ENV}, else host",
    )


def add_commands(commands, parse_param) -> None:
    """Add the subcommands to `commands` (the parser's subparsers)."""
    run = commands.add_parser(
        "run",
        help="start a pipeline run unless one of it is in flight",
        description="Start a run of PIPELINE and record it (who, why, parameters, backend run id) in "
        "pipeline_runs. While a run of PIPELINE is pending or running, records 'skipped: run X in "
        "flight' instead. Local runs execute to the end; KFP runs are started and left running.",
    )
    run.add_argument("pipeline", metavar="PIPELINE", help=PIPELINE_HELP)
    run.add_argument("--backend", choices=("local", "kfp"), default="local", help="where it runs")
    _add_run_options(run, parse_param, reason=None, triggered_by="cli")
    kfp = run.add_argument_group("kfp backend")
    _add_kfp_options(kfp)
    kfp.add_argument("--pipeline-name", help="run this uploaded pipeline instead of a compiled package")
    kfp.add_argument("--version-name", help="version of --pipeline-name (default: its newest)")
    run.add_argument("--now", help="the time to record (ISO 8601; default: now), for simulations")
    run.add_argument("--output-run-id", type=Path, help="write the started run's id here (empty if skipped)")
    run.set_defaults(handler=run_command)

    schedule = commands.add_parser(
        "schedule",
        help="run a pipeline locally every N seconds (the local stand-in for a KFP recurring run)",
        description="Trigger PIPELINE on this machine every SECONDS, through the same in-flight guard "
        "as `run`. A failed run does not stop the schedule; SIGTERM or Ctrl-C does.",
    )
    schedule.add_argument("pipeline", metavar="PIPELINE", help=PIPELINE_HELP)
    schedule.add_argument("--every", type=_positive(float), required=True, metavar="SECONDS")
    schedule.add_argument("--max-runs", type=_positive(int), metavar="N", help="stop after N triggers")
    _add_run_options(schedule, parse_param, reason="schedule", triggered_by="schedule")
    schedule.set_defaults(handler=schedule_command)

    upload = commands.add_parser(
        "upload",
        help="upload a compiled pipeline to KFP as a new version",
        description="Upload PIPELINE's compiled YAML (or --package) to KFP as version --version of the "
        "pipeline --name (created if new). Prints the pipeline and version ids.",
    )
    upload.add_argument("pipeline", metavar="PIPELINE", help=PIPELINE_HELP)
    upload.add_argument("--package", type=Path, help="compiled pipeline YAML (default: PIPELINE's)")
    upload.add_argument("--name", help="pipeline name on KFP (default: PIPELINE)")
    upload.add_argument("--version", help="version name (default: the current UTC time)")
    _add_kfp_options(upload, experiment=False)
    upload.set_defaults(handler=upload_command)

    recurring = commands.add_parser(
        "schedule-kfp",
        help="create a KFP recurring run of an uploaded pipeline on a cron",
        description="Create a recurring run of the uploaded pipeline PIPELINE (its newest version, or "
        "--version-name) on KFP: one run at a time, no catch-up. Prints its id.",
    )
    recurring.add_argument("pipeline", metavar="PIPELINE", help="pipeline name on KFP")
    recurring.add_argument(
        "--cron", required=True, help="6 fields, seconds first, e.g. '0 0 * * * *' (hourly)"
    )
    recurring.add_argument("--version-name", help="pipeline version (default: the newest)")
    recurring.add_argument("--package", type=Path, help="a compiled package instead of an uploaded one")
    recurring.add_argument("--job-name", help="display name of the recurring run")
    recurring.add_argument("--param", action="append", type=parse_param, default=[], metavar="NAME=VALUE")
    _add_kfp_options(recurring)
    recurring.set_defaults(handler=schedule_kfp_command)

    in_flight = commands.add_parser(
        "in-flight",
        help="say whether a run of a pipeline is in flight (JSON), asking KFP about its runs first",
        description="Write, as a JSON object, whether a run of PIPELINE is pending or running: with "
        "--backend kfp the state of its KFP runs is fetched first, so a run that has ended no longer "
        "counts; a run in flight for longer than --stale-after-hours is marked failed, as `run` does.",
    )
    in_flight.add_argument("pipeline", metavar="PIPELINE", help=PIPELINE_HELP)
    in_flight.add_argument("--backend", choices=("local", "kfp"), default="local", help="where its runs go")
    _add_stale_option(in_flight)
    in_flight.add_argument("--now", help="the time to answer for (ISO 8601; default: now), for simulations")
    in_flight.add_argument("--output", type=Path, help="file to write the JSON answer to (also printed)")
    _add_kfp_options(in_flight, experiment=False)
    in_flight.set_defaults(handler=in_flight_command)


def run_command(args: argparse.Namespace) -> int:
    _check_run_options(args)
    settings = load_settings()
    engine = _engine(settings.database_url)
    now = clock.parse(args.now) if args.now else None
    stale_after = timedelta(hours=args.stale_after_hours)
    parameters = {**_json_parameters(args.params_json), **dict(args.param)}
    if args.backend == "local":
        result = trigger_local(
            engine,
            args.pipeline,
            parameters,
            executor=create_executor(args.executor),
            runs_dir=settings.runs_dir,
            reason=args.reason,
            triggered_by=args.triggered_by,
            package=args.package,
            sink=print_sink(sys.stderr),
            now=now,
            stale_after=stale_after,
        )
    else:
        result = trigger_kfp(
            engine,
            args.pipeline,
            parameters,
            target=kfp_backend.KfpTarget.from_env(args.host, args.namespace),
            reason=args.reason,
            triggered_by=args.triggered_by,
            experiment=args.experiment,
            package=args.package,
            pipeline_name=args.pipeline_name,
            version_name=args.version_name,
            now=now,
            stale_after=stale_after,
        )
    _report(args.pipeline, result)
    if args.output_run_id:
        args.output_run_id.parent.mkdir(parents=True, exist_ok=True)
        args.output_run_id.write_text(result.external_run_id if result.status != "skipped" else "")
    return 0


def schedule_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    engine = _engine(settings.database_url)
    package = args.package or compiled_package(args.pipeline)
    executor = create_executor(args.executor)
    reason = args.reason if args.reason != "schedule" else f"scheduled every {args.every:g} s"
    start, triggers, in_run = time.monotonic(), 0, False
    try:
        while args.max_runs is None or triggers < args.max_runs:
            in_run = True
            try:
                result = trigger_local(
                    engine,
                    args.pipeline,
                    dict(args.param),
                    executor=executor,
                    runs_dir=settings.runs_dir,
                    reason=reason,
                    triggered_by=args.triggered_by,
                    package=package,
                    sink=print_sink(sys.stderr),
                    stale_after=timedelta(hours=args.stale_after_hours),
                )
                _report(args.pipeline, result)
            except Exception as e:
                # Like a recurring run on KFP: one failed run is recorded, the schedule goes on.
                print(f"{args.pipeline}: run failed: {e}", file=sys.stderr)
            in_run = False
            triggers += 1
            if args.max_runs is not None and triggers >= args.max_runs:
                break
            # Ticks stay on the start + k * every grid, however long a run took.
            time.sleep(max(0.0, args.every - (time.monotonic() - start) % args.every))
    except KeyboardInterrupt:
        print(f"schedule stopped after {triggers} trigger(s)", file=sys.stderr)
        return 130 if in_run else 0
    print(f"schedule done: {triggers} trigger(s)", file=sys.stderr)
    return 0


def upload_command(args: argparse.Namespace) -> int:
    package = args.package or compiled_package(args.pipeline)
    version = args.version or f"{args.pipeline}-{clock.utcnow():%Y%m%d-%H%M%S}"
    target = kfp_backend.KfpTarget.from_env(args.host, args.namespace)
    pipeline_id, version_id = kfp_backend.upload(
        target.host, package, args.name or args.pipeline, version, target
    )
    print(f"uploaded {package.name} as {args.name or args.pipeline} version {version}")
    print(f"pipeline_id={pipeline_id} version_id={version_id}")
    return 0


def schedule_kfp_command(args: argparse.Namespace) -> int:
    target = kfp_backend.KfpTarget.from_env(args.host, args.namespace)
    recurring_id = kfp_backend.create_recurring_run(
        target.host,
        args.pipeline,
        args.cron,
        version=args.version_name,
        package=args.package,
        parameters=dict(args.param),
        experiment=args.experiment,
        job_name=args.job_name,
        target=target,
    )
    print(f"recurring run of {args.pipeline} on cron {args.cron!r}: recurring_run_id={recurring_id}")
    return 0


def in_flight_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    engine = _engine(settings.database_url)
    now = clock.parse(args.now) if args.now else None
    note = None
    if args.backend == "kfp":
        try:
            target = kfp_backend.KfpTarget.from_env(args.host, args.namespace)
            kfp_backend.refresh_in_flight(engine, kfp_backend.connect(target), target.host, args.pipeline)
        except kfp_backend.KfpError as e:
            # Still answer from the records: a check that cannot ask KFP is better than no check.
            note = f"KFP not asked, run states as last recorded: {e}"
            log.warning(note)
    state = runs.in_flight_state(
        engine, args.pipeline, now=now, stale_after=timedelta(hours=args.stale_after_hours), note=note
    )
    answer = json.dumps(state.to_json())
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(answer)
    print(answer)
    return 0


def _add_run_options(parser, parse_param, reason, triggered_by) -> None:
    parser.add_argument("--param", action="append", type=parse_param, default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--params-json",
        default="",
        metavar="JSON",
        help="pipeline parameters as one JSON object (what a pipeline step can pass); --param wins",
    )
    parser.add_argument("--package", type=Path, help="compiled pipeline YAML (default: PIPELINE's)")
    add_executor_option(parser)
    parser.add_argument("--reason", default=reason, help="why the run is started (recorded)")
    parser.add_argument("--triggered-by", default=triggered_by, metavar="WHO", help="recorded as who")
    _add_stale_option(parser)


def _add_stale_option(parser) -> None:
    """The one staleness rule, for starting runs and for saying whether one is in flight."""
    parser.add_argument(
        "--stale-after-hours",
        type=_positive(float),
        default=runs.DEFAULT_STALE_AFTER.total_seconds() / 3600,
        metavar="HOURS",
        help="an in-flight run older than this is marked failed instead of blocking (default: 6)",
    )


def _add_kfp_options(parser, experiment: bool = True) -> None:
    parser.add_argument("--host", help="KFP API endpoint (default: $KFP_HOST); token from KFP_TOKEN[_FILE]")
    parser.add_argument("--namespace", help="KFP namespace, multi-user deployments (default: $KFP_NAMESPACE)")
    if experiment:
        parser.add_argument("--experiment", default=kfp_backend.DEFAULT_EXPERIMENT, help="KFP experiment")


def _json_parameters(text: str) -> dict:
    if not text.strip():
        return {}
    try:
        parameters = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--params-json is not JSON: {e.msg} at position {e.pos}") from None
    if not isinstance(parameters, dict):
        raise UsageError(
            f"--params-json must be a JSON object of name: value, got {type(parameters).__name__}"
        )
    return parameters


def _check_run_options(args: argparse.Namespace) -> None:
    if args.backend == "local":
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("host", "namespace", "pipeline_name", "version_name")
            if getattr(args, name)
        ]
        if given:
            raise UsageError(f"{', '.join(given)} only apply with --backend kfp")
    elif args.executor:
        raise UsageError("--executor only applies with --backend local")
    if args.pipeline_name and args.package:
        raise UsageError("give either --package or --pipeline-name, not both")
    if args.version_name and not args.pipeline_name:
        raise UsageError("--version-name needs --pipeline-name")


def _report(pipeline: str, result: TriggerResult) -> None:
    if result.status == "skipped":
        print(f"{pipeline}: {result.message} (recorded as run {result.run_id})")
    else:
        print(f"{pipeline}: run {result.run_id} {result.status} ({result.external_run_id}): {result.message}")


def _engine(database_url: str):
    migrate.upgrade(database_url)
    return connect_engine(database_url)


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
        return value

    return parse
