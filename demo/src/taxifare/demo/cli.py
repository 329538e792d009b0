"""`taxifare-demo`: the whole retraining loop on one machine, with the real components, in a few minutes.

History is generated, the training pipeline deploys v1, the predictor serves it, normal traffic passes
the retraining check, drifted traffic fails it, the checker triggers a retrain, v2 is deployed, the
predictor swaps to it and the error on the new traffic drops. Everything lives in a fresh state folder
(default .local/demo, removed by the next run); DATABASE_URL, when set, names an empty database to use
instead of the SQLite file there.
"""

import argparse
import os
import signal
import socket
import sys
from pathlib import Path

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db.engine import connect_engine
from taxifare.demo.loop import FAILURES, DemoOptions, Loop
from taxifare.demo.processes import Commands
from taxifare.demo.report import write_report
from taxifare.demo.state import StateError, prepare_state
from taxifare.demo.summary import summary
from taxifare.demo.timeline import Timeline

DEFAULTS = DemoOptions()


def _positive(kind, zero_ok: bool = False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(
                f"not a {'non-negative' if zero_ok else 'positive'} {kind.__name__}: {text!r}"
            )
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taxifare-demo",
        description=__doc__.split("\n\n")[0],
        epilog="Each component's output is in <state-dir>/logs/; the report in <state-dir>/report.html.",
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".local/demo"), help="default: .local/demo")
    sizes = parser.add_argument_group("sizes (smaller: faster, noisier)")
    for flag, kind, help_text in (
        ("--history-days", int, "days of stationary history, ending yesterday"),
        ("--history-rows", int, "trips in the history"),
        ("--train-days", int, "days a model trains on"),
        ("--eval-days", int, "newest days a model is evaluated on"),
        ("--epochs", int, "most training epochs (early stopping may end sooner)"),
        ("--drift-days", int, "simulated days the drifted trips land over"),
        ("--normal-trips", int, "trips of normal traffic"),
        ("--drift-trips", int, "trips of drifted traffic before the retrain"),
        ("--after-trips", int, "trips of drifted traffic after the swap"),
        ("--batch-size", int, "trips per prediction request"),
        ("--rate", float, "requests per second, 0: as fast as the predictor answers"),
        ("--concurrency", int, "requests in flight"),
        ("--workers", int, "predictor worker processes"),
    ):
        dest = flag[2:].replace("-", "_")
        sizes.add_argument(
            flag,
            type=_positive(kind, zero_ok=flag == "--rate"),
            default=getattr(DEFAULTS, dest),
            help=f"{help_text} (default %(default)s)",
        )
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (default %(default)s)")
    parser.add_argument("--port", type=int, help="predictor port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--verbose", action="store_true", help="also show every component's output")
    return parser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interrupt(signum, _frame):
    # SIGTERM stops the demo like Ctrl-C: everything it started is stopped on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.drift_days < args.train_days + args.eval_days:
        parser.error(
            f"--drift-days ({args.drift_days}) must be at least --train-days + --eval-days "
            f"({args.train_days + args.eval_days}), so that the retrain sees the new world only"
        )
    fields = DemoOptions.__dataclass_fields__
    options = DemoOptions(**{name: value for name, value in vars(args).items() if name in fields})
    signal.signal(signal.SIGTERM, _interrupt)
    timeline = Timeline()
    started_at = clock.utcnow()
    try:
        state = prepare_state(args.state_dir, os.environ.get("DATABASE_URL"))
        commands = Commands(state.env(os.environ), state.logs_dir, echo=args.verbose)
        engine = connect_engine(state.database_url)
        port = args.port or free_port()
        loop = Loop(state, options, commands=commands, engine=engine, timeline=timeline, port=port)
    except StateError as e:
        print(f"taxifare-demo: {e}", file=sys.stderr)
        return 1
    status = 0
    try:
        result = loop.run()
        timeline.step("done: everything the demo started is stopped")
        print("\n" + summary(engine, result, timeline.elapsed))
    except FAILURES as e:
        print(f"taxifare-demo: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("taxifare-demo: interrupted; everything it started is stopped", file=sys.stderr)
        status = 130
    try:
        path = write_report(engine, state.report_path, started_at, timeline.lines)
        print(f"\nReport: {path}")
        print(f"Logs of every component: {state.logs_dir}")
    except (sa.exc.SQLAlchemyError, OSError) as e:
        print(f"taxifare-demo: no report: {e}", file=sys.stderr)
        status = status or 1
    finally:
        engine.dispose()
    return status


if __name__ == "__main__":
    sys.exit(main())
