"""`taxifare-trainer`: the train and evaluate pipeline steps.

    taxifare-trainer train [--data-uri URI] [--model-store-uri URI] [--train-days N] [--eval-days M]
        [--now ISO] [--epochs E] [--batch-size B] [--min-rows R] [--version V]
        [--output-model-uri FILE] [--output-metrics FILE] [--output-eval-data PATH]
    taxifare-trainer evaluate --model-uri URI|live|'' --eval-data URI --output-metrics FILE

`train` trains on the newest window of trips and publishes MODEL_STORE_URI/<version>/; `evaluate`
scores a published model on an evaluation set (an empty model URI means "no live model yet").
"""

import argparse
import logging
import os
import sys
import uuid
from pathlib import Path

from taxifare.core import clock, storage
from taxifare.core.config import ConfigError, load_settings
from taxifare.core.logs import setup_logging
from taxifare.core.trips import DataStore, TripDataError, model_inputs

log = logging.getLogger(__name__)

NO_MODEL = ("", "none", "null")
LIVE = "live"  # the registry's live model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-trainer", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on the newest data window and publish the model")
    train.add_argument("--data-uri", help="trip data store (default: DATA_URI)")
    train.add_argument("--model-store-uri", help="where models are published (default: MODEL_STORE_URI)")
    train.add_argument("--train-days", type=int, default=60, help="days of trips to train on (default 60)")
    train.add_argument("--eval-days", type=int, default=7, help="newest days kept for evaluation (default 7)")
    train.add_argument("--now", help="ISO time; days after it are ignored (default: the current time)")
    train.add_argument("--epochs", type=int, default=60, help="maximum epochs; early stopping ends sooner")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--min-rows", type=int, default=500, help="refuse to train on a smaller window")
    train.add_argument("--version", help="model version (default: time of training plus a random suffix)")
    train.add_argument("--output-model-uri", type=Path, help="file to write the published model's URI to")
    train.add_argument("--output-metrics", type=Path, help="file to write the metrics JSON to")
    train.add_argument("--output-eval-data", help="path or URI to write a copy of the evaluation set to")

    evaluate = commands.add_parser("evaluate", help="score a published model on an evaluation set")
    evaluate.add_argument(
        "--model-uri",
        required=True,
        help="a published model folder; live: the registry's live model; '' or none: no model",
    )
    evaluate.add_argument("--eval-data", required=True, help="evaluation set (Parquet) written by train")
    evaluate.add_argument(
        "--output-metrics", required=True, type=Path, help="file to write the metrics JSON to"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        for name in ("train_days", "eval_days", "epochs", "batch_size", "min_rows"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
        if args.version is not None and not _valid_version(args.version):
            parser.error(f"--version {args.version!r} must be 1-64 letters, digits, '.', '_' or '-'")
    # TensorFlow's C++ start-up chatter would bury the step's own output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        if args.command == "train":
            return train(args, settings)
        return evaluate(args)
    except (ConfigError, TripDataError, storage.StorageError, ValueError) as e:
        print(f"taxifare-trainer: error: {e}", file=sys.stderr)
        return 1


def train(args: argparse.Namespace, settings) -> int:
    # Imported here so that `--help` and argument errors do not wait for TensorFlow.
    from taxifare.trainer.artifact import (
        ArtifactError,
        finite_json,
        parquet_bytes,
        publish_model,
        version_uri,
    )
    from taxifare.trainer.training import TrainingRefused, TrainOptions, train_window

    now = clock.parse(args.now) if args.now else clock.utcnow()
    data_uri = args.data_uri or settings.data_uri
    version = args.version or f"{clock.utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    model_uri = version_uri(args.model_store_uri or settings.model_store_uri, version)
    frame = DataStore(data_uri).read_newest(args.train_days + args.eval_days, now=now)
    log.info("data window read", extra={"data_uri": data_uri, "rows": len(frame), "now": now.isoformat()})
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, min_rows=args.min_rows)
    try:
        result = train_window(frame, args.eval_days, options, progress=1 if sys.stdout.isatty() else 2)
        metrics = {
            **result.metrics,
            "version": version,
            "model_uri": model_uri,
            "eval_data_uri": storage.join(model_uri, "eval.parquet"),
        }
        metrics_json = finite_json(metrics)
        publish_model(result.model, result.eval_frame, result.eval_predictions, metrics, model_uri)
    except (TrainingRefused, ArtifactError) as e:
        print(f"taxifare-trainer: error: {e}", file=sys.stderr)
        return 1
    if args.output_eval_data:
        storage.write_bytes(args.output_eval_data, parquet_bytes(result.eval_frame))
    _write_output(args.output_metrics, metrics_json)
    _write_output(args.output_model_uri, model_uri)
    log.info(
        "model published", extra={"model_uri": model_uri, "rmse": metrics["rmse"], "mae": metrics["mae"]}
    )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from taxifare.trainer.artifact import ArtifactError, finite_json, load_model, read_eval_data
    from taxifare.trainer.model import predict_saved
    from taxifare.trainer.training import LABEL, evaluation_metrics

    model_uri = args.model_uri.strip()
    if model_uri.lower() == LIVE:
        model_uri = _live_model_uri()
    if model_uri.lower() in NO_MODEL:
        _write_output(args.output_metrics, '{"model_uri": null}')
        log.info("no model to evaluate")
        return 0
    try:
        frame = read_eval_data(args.eval_data)
        if frame.empty:
            raise ArtifactError(f"evaluation data {args.eval_data!r} holds no trips")
        predictions = predict_saved(load_model(model_uri), model_inputs(frame))
        metrics = {"model_uri": model_uri, **evaluation_metrics(frame[LABEL].to_numpy(float), predictions)}
        _write_output(args.output_metrics, finite_json(metrics))
    except ArtifactError as e:
        print(f"taxifare-trainer: error: {e}", file=sys.stderr)
        return 1
    log.info("model evaluated", extra=metrics)
    return 0


def _live_model_uri() -> str:
    """The registry's live model (DATABASE_URL), or '' while none is live (component-evaluate.yaml)."""
    import sqlalchemy as sa

    from taxifare.core.config import mask_url
    from taxifare.core.db.engine import connect_engine
    from taxifare.core.db.registry import live_version

    url = load_settings().database_url
    engine = connect_engine(url)
    try:
        with engine.connect() as conn:
            live = live_version(conn)
    except sa.exc.SQLAlchemyError as e:
        raise ValueError(f"cannot read the live model from {mask_url(url)}: {type(e).__name__}") from None
    finally:
        engine.dispose()
    return live.model_uri if live is not None else ""


def _write_output(path: Path | None, text: str) -> None:
    """Write a step output; KFP names output files whose folders do not exist yet."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _valid_version(version: str) -> bool:
    return 0 < len(version) <= 64 and all(c.isalnum() or c in "._-" for c in version)
