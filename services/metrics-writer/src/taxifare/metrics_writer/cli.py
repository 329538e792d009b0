"""`taxifare-metrics-writer write`: the write-metrics pipeline step.

    taxifare-metrics-writer write --metrics PATH --pipeline-run-id ID [--output-version PATH] [--now ISO]

Registers the trained model as a candidate version with its metrics (DATABASE_URL), and writes the
version to --output-version for the next step. A retried step with the same run id adds nothing.
"""

import argparse
import logging
import sys
from pathlib import Path

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.config import ConfigError, load_settings, mask_url
from taxifare.core.db import registry
from taxifare.core.db.engine import connect_engine
from taxifare.core.logs import setup_logging
from taxifare.metrics_writer.metrics import MetricsFileError, read_metrics_file, training_run

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-metrics-writer", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="register a trained model as a candidate with its metrics")
    write.add_argument("--metrics", required=True, type=Path, help="metrics JSON written by `trainer train`")
    write.add_argument("--pipeline-run-id", required=True, help="the pipeline run; retries reuse its row")
    write.add_argument("--output-version", type=Path, help="file to write the registered version to")
    write.add_argument(
        "--now", default="", help="the registration time, ISO 8601 (default or empty: the current time)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.pipeline_run_id.strip():
        parser.error("--pipeline-run-id must not be empty")
    try:
        now = clock.parse(args.now) if args.now.strip() else None
    except ValueError as e:
        parser.error(f"--now: {e}")
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        return write(args, settings.database_url, now)
    except (ConfigError, MetricsFileError, registry.RegistryError) as e:
        print(f"taxifare-metrics-writer: error: {e}", file=sys.stderr)
        return 1


def write(args: argparse.Namespace, database_url: str, now=None) -> int:
    run = training_run(read_metrics_file(args.metrics), source=f"metrics file {str(args.metrics)!r}")
    engine = connect_engine(database_url)
    try:
        with engine.connect() as conn:
            row, created = registry.register_candidate(
                conn,
                version=run.version,
                model_uri=run.model_uri,
                pipeline_run_id=args.pipeline_run_id.strip(),
                eval_data_uri=run.eval_data_uri,
                data_start=run.data_start,
                data_end=run.data_end,
                train_rows=run.train_rows,
                eval_rows=run.eval_rows,
                label_mean=run.label_mean,
                label_std=run.label_std,
                eval_rmse=run.rmse,
                eval_mae=run.mae,
                reference_stats=run.reference_stats,
                input_bounds=run.input_bounds,
                metrics=run.metrics,
                now=now,
            )
    except sa.exc.DBAPIError as e:
        print(
            f"taxifare-metrics-writer: error: database {mask_url(database_url)!r} failed: "
            f"{str(e.orig).strip().splitlines()[0]} (is it migrated? `taxifare-db upgrade`)",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    if args.output_version:
        args.output_version.parent.mkdir(parents=True, exist_ok=True)
        args.output_version.write_text(row.version)
    if created:
        log.info("registered candidate", extra={"version": row.version, "metrics": len(run.metrics)})
        print(f"registered {row.version} as a candidate (RMSE {run.rmse:.4f}, {len(run.metrics)} metrics)")
    else:
        print(f"{row.version} was already registered by run {args.pipeline_run_id.strip()!r}; nothing added")
        if row.version != run.version:
            # A retried train step published another version; the run keeps the one it registered first.
            log.warning(
                "metrics name another version than the run registered", extra={"ignored": run.version}
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
