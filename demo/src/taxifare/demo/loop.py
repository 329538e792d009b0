"""The whole loop, step by step, driving the real components through their command lines.

Two clocks run here. Served requests are stamped by the predictor with the real time, so each check
looks at a real-time window (the traffic of the phase it follows). The trips live on a simulated
calendar: history up to yesterday, normal traffic on the days v1 was evaluated on, drifted traffic
over the next few days (`--now` of the traffic generator), so that the windows of the retrain (`now`
of the training pipeline, passed through the checker) hold the new world only. Time is a parameter
of every component; this is what it is for.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db import registry
from taxifare.demo import results
from taxifare.demo.processes import Commands, Predictor, StepFailed
from taxifare.demo.state import DemoState, StateError
from taxifare.demo.timeline import Timeline

TRIGGERED_BY = "taxifare-demo"
CHECKER = "retraining-checker"
TRAINING = "taxi-fare-predictor"
# The new world: a covariate shift (longer trips, more airports, night hours) and a concept shift (a new
# rate card) at once.
DRIFT_MODES = ("drift+concept",)
# Small windows (a few thousand trips): smaller batches give the model enough steps per epoch.
TRAIN_BATCH_SIZE = 64


@dataclass(frozen=True)
class DemoOptions:
    history_days: int = 14
    history_rows: int = 12_000
    train_days: int = 3
    eval_days: int = 2
    epochs: int = 40
    # Simulated days the drifted trips are spread over: at least train_days + eval_days, so that the
    # retraining window holds the new world only.
    drift_days: int = 5
    normal_trips: int = 500
    drift_trips: int = 6_000
    after_trips: int = 1_000
    batch_size: int = 5
    rate: float = 200.0
    concurrency: int = 8
    workers: int = 1
    seed: int = 0
    predictor_timeout: float = 180.0


@dataclass
class Phase:
    """A stretch of traffic, in real time (how the predictor stamps what it serves)."""

    name: str
    start: datetime
    end: datetime | None = None


@dataclass
class DemoResult:
    v1: str | None = None
    v2: str | None = None
    phases: dict[str, Phase] = field(default_factory=dict)
    realised: dict[str, list[results.Realised]] = field(default_factory=dict)


class LoopFailed(RuntimeError):
    """A component ran, but the loop did not do what it should have; the message says what."""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _end_of(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=23, minutes=59, seconds=59)


class Loop:
    def __init__(
        self,
        state: DemoState,
        options: DemoOptions,
        *,
        commands: Commands,
        engine: sa.Engine,
        timeline: Timeline,
        port: int,
    ):
        self.state = state
        self.options = options
        self.commands = commands
        self.engine = engine
        self.timeline = timeline
        self.predictor = Predictor(commands, port, workers=options.workers)
        self.result = DemoResult()
        self.today = clock.utcnow().date()

    # --- steps ---------------------------------------------------------------------------------

    def run(self) -> DemoResult:
        try:
            self.create_state()
            self.generate_history()
            self.first_model()
            self.start_predictor()
            self.normal_traffic_and_check()
            self.drift_and_retrain()
            self.after_the_swap()
        finally:
            self.predictor.stop()
        return self.result

    def create_state(self) -> None:
        self.commands.run("db-upgrade", ["taxifare-db", "upgrade"])
        self.timeline.step(f"state: a fresh {self.state.root} ({_describe_db(self.state.database_url)})")

    def training_parameters(self, now: datetime) -> dict[str, object]:
        """The training pipeline's parameters: the demo's short window and its simulated `now`."""
        o = self.options
        return {
            "train_days": o.train_days,
            "eval_days": o.eval_days,
            "epochs": o.epochs,
            "batch_size": TRAIN_BATCH_SIZE,
            "now": _iso(now),
        }

    def generate_history(self) -> None:
        o = self.options
        first, last = self.today - timedelta(days=o.history_days), self.today - timedelta(days=1)
        self.commands.run(
            "history",
            [
                "taxifare-data", "generate", "--rows", str(o.history_rows),
                "--start", first.isoformat(), "--end", last.isoformat(),
                "--scenario", "stationary", "--seed", str(o.seed), "--no-progress",
            ],
        )  # fmt: skip
        self.timeline.step(
            f"history: {o.history_rows} stationary trips from {first} to {last} in the data store"
        )

    def first_model(self) -> None:
        self.timeline.step(
            f"training pipeline (local runner): the first model, on the newest {self.options.train_days} + {self.options.eval_days} days"
        )
        parameters = self.training_parameters(now=_end_of(self.today - timedelta(days=1)))
        self.commands.run(
            "train-v1",
            ["taxifare-trigger", "run", TRAINING, "--backend", "local", "--params-json", json.dumps(parameters),
             "--reason", "the first model", "--triggered-by", TRIGGERED_BY],
        )  # fmt: skip
        with self.engine.connect() as conn:
            live = registry.live_version(conn)
            if live is None:
                raise LoopFailed(
                    f"the training pipeline ran but deployed no model (see {self.commands.logs_dir})"
                )
            decision = results.decision_for(conn, live.version)
        self.result.v1 = live.version
        self._announce_live(f"v1 = {live.version} is live", live, decision, "trips")

    def start_predictor(self) -> None:
        self.predictor.start()
        version = self.predictor.wait_ready(self.options.predictor_timeout)
        self.timeline.step(f"predictor: gunicorn on {self.predictor.url}, ready, serving {version}")

    def normal_traffic_and_check(self) -> None:
        o = self.options
        # Trips of the days v1 was evaluated on: the same hours and weekdays, so the same expected error
        # (a model trained on a few weekdays may err more on a weekend, which is not drift).
        yesterday = self.today - timedelta(days=1)
        first = yesterday - timedelta(days=o.eval_days - 1)
        phase = self._traffic(
            "normal", ("normal",), o.normal_trips, now=_end_of(yesterday), days=o.eval_days, seed=o.seed + 1
        )
        self.timeline.step(
            f"normal traffic: {o.normal_trips} trips like the training data "
            f"(trips of {first} .. {yesterday}, the days v1 was evaluated on)"
        )
        self._report_realised(phase)
        check = self._check(phase, training=self.training_parameters(now=_end_of(self.today)))
        if check.decision:
            raise LoopFailed(f"the check on normal traffic asked for retraining: {check.reason}")

    def drift_and_retrain(self) -> None:
        o = self.options
        first, last = self.today + timedelta(days=1), self.today + timedelta(days=o.drift_days)
        phase = self._traffic(
            "drift", DRIFT_MODES, o.drift_trips, now=_end_of(last), days=o.drift_days, seed=o.seed + 2
        )
        self.timeline.step(
            f"drifted traffic: {o.drift_trips} longer/airport/night trips, fares on a new rate card; "
            f"the trips and their real fares landed for {first} .. {last}"
        )
        self._report_realised(phase)
        runs_before = len(self._runs(TRAINING))
        # The retrain the checker triggers trains as of the simulated clock: the end of the drifted days.
        check = self._check(phase, training=self.training_parameters(now=_end_of(last)))
        if not check.decision:
            raise LoopFailed(f"the check on drifted traffic did not ask for retraining: {check.reason}")
        with self.engine.connect() as conn:
            triggered = [r for r in results.runs(conn, TRAINING)[runs_before:] if r.triggered_by == CHECKER]
            live = registry.live_version(conn)
            candidate = results.versions(conn)[-1]
            decision = results.decision_for(conn, candidate.version)
            old = results.status_of(conn, self.result.v1)
        if not triggered:
            raise LoopFailed(
                "the check said 'retrain' but no training run triggered by the checker is recorded"
            )
        run = triggered[-1]
        self.timeline.step(
            f"training pipeline run {run.external_run_id} triggered by the checker: {run.status}"
        )
        if live is None or live.version == self.result.v1:
            reason = decision.reason if decision is not None else "no deploy decision recorded"
            raise LoopFailed(f"the retrain did not deploy a new model: {candidate.version}: {reason}")
        self.result.v2 = live.version
        self._announce_live(
            f"v2 = {live.version} is live (v1 {old})", live, decision, "trips of the new world"
        )

    def _announce_live(self, headline: str, live, decision, trips: str) -> None:
        self.timeline.step(
            f"{headline}: eval RMSE {live.eval_rmse:.2f}, MAE {live.eval_mae:.2f} on {live.eval_rows} {trips}"
        )
        if decision is not None:
            self.timeline.detail(f"deployer: {decision.reason}")

    def after_the_swap(self) -> None:
        o = self.options
        self.predictor.wait_serving(self.result.v2, timeout=o.predictor_timeout)
        self.timeline.step(f"predictor: swapped to {self.result.v2} without a restart")
        # Trips of the same simulated days as the drifted traffic v1 served, so the two errors compare
        # like with like; they are only measured, not landed again.
        first, last = self.today + timedelta(days=1), self.today + timedelta(days=o.drift_days)
        phase = self._traffic(
            "after",
            DRIFT_MODES,
            o.after_trips,
            now=_end_of(last),
            days=o.drift_days,
            seed=o.seed + 3,
            land=False,
        )
        self.timeline.step(f"drifted traffic again: {o.after_trips} trips like those of {first} .. {last}")
        self._report_realised(phase)
        before = _mae_of(self.result.realised["drift"], self.result.v1)
        after = _mae_of(self.result.realised["after"], self.result.v2)
        if before is not None and after is not None:
            self.timeline.step(f"realised MAE on drifted traffic: v1 {before:.2f} -> v2 {after:.2f}")

    # --- helpers -------------------------------------------------------------------------------

    def _traffic(
        self,
        name: str,
        modes: tuple[str, ...],
        trips: int,
        *,
        now: datetime,
        days: int,
        seed: int,
        land: bool = True,
    ) -> Phase:
        """About `trips` trips, split between the traffic generator's `modes`, dated up to `now`."""
        o = self.options
        phase = Phase(name, clock.utcnow())
        requests = max(1, round(trips / o.batch_size / len(modes)))
        for i, mode in enumerate(modes):
            self.commands.run(
                f"traffic-{name}-{mode}",
                [
                    "taxifare-traffic-gen", "--url", self.predictor.url, "--mode", mode,
                    "--count", str(requests), "--batch-size", str(o.batch_size), "--rate", str(o.rate),
                    "--concurrency", str(o.concurrency), "--seed", str(seed * 10 + i), "--now", _iso(now),
                    "--days", str(days), *([] if land else ["--no-land"]),
                ],
            )  # fmt: skip
        self._wait_logged(phase.start, requests * o.batch_size * len(modes))
        phase.end = clock.utcnow()
        self.result.phases[name] = phase
        with self.engine.connect() as conn:
            self.result.realised[name] = results.realised(conn, phase.start, phase.end)
        return phase

    def _wait_logged(self, since: datetime, count: int, timeout: float = 20.0) -> None:
        """The predictor writes its logs in batches: wait until this phase's rows are all in."""
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as conn:
                n_predictions, n_actuals = results.logged_counts(conn, since)
            if (n_predictions >= count and n_actuals >= count) or time.monotonic() > deadline:
                return
            time.sleep(0.3)

    def _report_realised(self, phase: Phase) -> None:
        for r in self.result.realised[phase.name]:
            mae = "-" if r.mae is None else f"{r.mae:.2f}"
            self.timeline.detail(
                f"{self._label(r.model_version)}: {r.predictions} predictions logged, "
                f"{r.with_actuals} with their real fare, realised MAE {mae}"
            )

    def _check(self, phase: Phase, training: dict[str, object]) -> sa.Row:
        """The retraining checker at the end of a traffic phase, over that phase's traffic.

        It runs locally, with no cooldown after v1's deploy (a demo shows the cure right after the
        disease); when it triggers the training pipeline, that run gets `training` as its parameters.
        The check's window is the phase's minutes of real time, while the drifted trips it served span
        `drift_days` simulated days, a whole training window of the new world: so it waits for no
        more new data.
        """
        hours = ((phase.end - phase.start).total_seconds() + 1) / 3600
        parameters = {
            "window_hours": round(hours, 6),
            "now": phase.end.isoformat(),
            "cooldown_hours": 0.0,
            "min_new_data_hours": 0.0,
            "backend": "local",
            "training_parameters": json.dumps(training),
        }
        self.commands.run(
            f"check-{phase.name}",
            ["taxifare-trigger", "run", CHECKER, "--backend", "local", "--params-json", json.dumps(parameters),
             "--reason", f"check after the {phase.name} traffic", "--triggered-by", TRIGGERED_BY],
        )  # fmt: skip
        with self.engine.connect() as conn:
            check = results.newest_check(conn)
        if check is None:
            raise LoopFailed("the retraining checker ran but recorded no check")
        verdict = "retraining needed" if check.decision else "no retraining"
        self.timeline.step(
            f"retraining checker: {verdict} ({check.n_predictions} predictions, {check.n_actuals} known fares)"
        )
        self.timeline.detail(f"reason: {check.reason}")
        return check

    def _runs(self, pipeline: str) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return results.runs(conn, pipeline)

    def _label(self, version: str) -> str:
        names = {self.result.v1: "v1", self.result.v2: "v2"}
        return f"{names[version]} ({version})" if version in names else version


def _mae_of(realised: list[results.Realised], version: str | None) -> float | None:
    return next((r.mae for r in realised if r.model_version == version), None)


def _describe_db(url: str) -> str:
    return "SQLite database" if url.startswith("sqlite") else "database from DATABASE_URL"


# What stops the loop with a message rather than a traceback.
FAILURES = (StepFailed, LoopFailed, StateError)
