"""`taxifare-trigger`: start pipeline runs.

Subcommands:
- `run-local PIPELINE_YAML --param k=v ...`: execute a compiled pipeline on this machine now.
- `run`, `schedule`, `upload`, `schedule-kfp`: see `taxifare.trigger.commands`.
"""

import argparse
import signal
import sys

from taxifare.core.config import ConfigError, load_settings, mask_secrets_in
from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine
from taxifare.core.logs import setup_logging
from taxifare.trigger import commands as trigger_commands
from taxifare.trigger.local_runner import (
    LocalRunner,
    PipelineError,
    RunRecorder,
    create_executor,
    load_pipeline,
    print_sink,
)


def parse_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-trigger", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser(
        "run-local",
        help="execute a compiled pipeline YAML on this machine",
        description="Execute a compiled pipeline YAML on this machine, step by step, and record the run "
        "in the pipeline_runs table. Steps get this process's environment (DATABASE_URL, DATA_URI, ...).",
    )
    local.add_argument("pipeline_yaml", metavar="PIPELINE_YAML", help="compiled pipeline (KFP IR YAML)")
    local.add_argument(
        "--param",
        action="append",
        type=parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="a pipeline parameter (repeatable); values are converted to the declared type",
    )
    trigger_commands.add_executor_option(local)
    local.add_argument("--triggered-by", default="cli", help="who started the run (recorded)")
    local.add_argument("--reason", default=None, help="why the run was started (recorded)")
    local.add_argument(
        "--no-record", action="store_true", help="do not write the run to the pipeline_runs table"
    )
    local.set_defaults(handler=run_local)
    trigger_commands.add_commands(commands, parse_param)
    return parser


def run_local(args: argparse.Namespace) -> int:
    settings = load_settings()
    pipeline = load_pipeline(args.pipeline_yaml)
    executor = create_executor(args.executor)
    recorder = None
    if not args.no_record:
        migrate.upgrade(settings.database_url)
        recorder = RunRecorder(connect_engine(settings.database_url))
    runner = LocalRunner(executor, settings.runs_dir, sink=print_sink(sys.stderr), recorder=recorder)
    result = runner.run(pipeline, dict(args.param), triggered_by=args.triggered_by, reason=args.reason)
    print(f"run {result.run_name} {result.status}: {result.message} ({result.run_dir})")
    return 0


def _terminate(signum, _frame):
    # Turn SIGTERM into the same clean stop as Ctrl-C: the running step is stopped, the run recorded.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(load_settings().log_level)
        signal.signal(signal.SIGTERM, _terminate)
        return args.handler(args)
    except (PipelineError, ConfigError, *trigger_commands.ERRORS) as e:
        print(f"taxifare-trigger: {mask_secrets_in(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("taxifare-trigger: interrupted; the run is recorded as failed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
