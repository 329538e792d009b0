"""One policy on one stream: the simulated clock, the served traffic, the policy's turns.

Each step of the clock (the policy's cadence):
1. the live model serves the trips picked up in the step (`serving`): predictions logged at the end of
   their pickup hour;
2. fares become known after the label delay (by default at the end of the pickup day): they reach
   `actuals`, and the completed trips land in the data store, one part per day;
3. the policy takes its turn at the end of the step; the training pipeline it may start runs through
   the local runner with `now` = the simulated time, its steps called in this process;
4. a newly deployed model serves from the next step on.

The first model is trained on the stream's history before the clock starts, through the same
pipeline, and is not counted as a retrain.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import pipeline_runs
from taxifare.core.trips import DataStore
from taxifare.sim.policies import Policy
from taxifare.sim.serving import LiveModelServer
from taxifare.sim.streams import Stream
from taxifare.sim.workspace import Workspace
from taxifare.trigger.local_runner import InProcessExecutor, PipelineError, StepFailed
from taxifare.trigger.trigger import trigger_local

log = logging.getLogger(__name__)

TRAINING = "taxi-fare-predictor"
CHECKER = "retraining-checker"
FIRST_MODEL = "the first model, on the stream's history"
TRAINING_PARAMETERS = ("train_days", "eval_days", "epochs", "batch_size", "min_rows")


class SimulationFailed(RuntimeError):
    """The loop could not go on (the first model was not deployed, a pipeline failed); says why."""


@dataclass
class Timings:
    """Wall seconds spent in pipeline runs that retrained (the first model is not counted), and in the
    whole simulation."""

    training: float = 0.0
    trainings: int = 0
    total: float = 0.0
    # Pipeline runs that failed (a training window too small, ...): recorded, and the clock goes on.
    failed_runs: list[str] = field(default_factory=list)


@dataclass
class Simulation:
    stream: Stream
    policy: Policy
    workspace: Workspace
    settings: dict
    label_delay_days: int = 0
    progress: Callable[[int], None] = lambda days: None
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self):
        self.engine = connect_engine(self.workspace.database_url)
        self.store = DataStore(self.workspace.data_uri)
        self.server = LiveModelServer(self.engine, self.workspace.root / "serving-cache")
        self.triggered_by = f"taxifare-sim {self.policy.name}"

    # --- what policies call --------------------------------------------------------------------

    def training_parameters(self, now: datetime) -> dict[str, Any]:
        return {**{k: self.settings[k] for k in TRAINING_PARAMETERS}, "now": now.isoformat()}

    def retrain(self, now: datetime, reason: str) -> None:
        self._run(TRAINING, self.training_parameters(now), now, reason)

    def check(self, now: datetime, parameters: dict[str, Any]) -> None:
        self._run(CHECKER, parameters, now, f"{self.policy.name}: scheduled check")

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.perf_counter()
        with self.workspace.environment():
            self.store.append(self.stream.history())
            first = self._run(
                TRAINING, self.training_parameters(self.stream.start), self.stream.start, FIRST_MODEL,
                triggered_by="taxifare-sim",
            )  # fmt: skip
            if first is not None or not self.server.refresh(self.stream.start):
                raise SimulationFailed(
                    f"the first model was not deployed ({first or 'it did not beat the mean-fare baseline'}); "
                    "a stream needs enough history for a model (--train-days, --eval-days, --min-rows)"
                )
            self._clock()
        self.timings.total = time.perf_counter() - started

    def _clock(self) -> None:
        step = timedelta(hours=self.policy.cadence_hours(self.settings))
        served = self.stream.served()
        pickups = served["pickup_datetime"]
        known_at = pickups.dt.normalize() + pd.Timedelta(days=1 + self.label_delay_days)
        pending = pd.Series(False, index=served.index)
        now, check, days_done = self.stream.start, 0, 0
        while now < self.stream.end:
            end = min(now + step, self.stream.end)
            in_step = (pickups >= now) & (pickups < end)
            self.server.serve(served[in_step])
            pending |= in_step
            due = pending & (known_at <= end)
            self._fares_known(served[due], known_at[due])
            pending &= ~due
            self.policy.act(self, end, check)
            self.server.refresh(end)
            now, check = end, check + 1
            elapsed_days = (now - self.stream.start).days
            self.progress(elapsed_days - days_done)
            days_done = elapsed_days

    def _fares_known(self, trips: pd.DataFrame, known_at: pd.Series) -> None:
        for moment, group in trips.groupby(known_at, sort=True):
            self.server.record_fares(group, moment.to_pydatetime())
        if not trips.empty:
            self.store.append(trips.drop(columns="request_id"))

    def _run(
        self, pipeline: str, parameters: dict, now: datetime, reason: str, triggered_by=None
    ) -> str | None:
        """Run a pipeline at `now`; None, or what failed (recorded, and the clock goes on)."""
        runs_before = self._training_runs()
        started = time.perf_counter()
        failure = None
        try:
            trigger_local(
                self.engine,
                pipeline,
                parameters,
                runs_dir=self.workspace.runs_dir,
                reason=reason,
                triggered_by=triggered_by or self.triggered_by,
                now=now,
                executor=InProcessExecutor(),
            )
        except PipelineError as e:
            failure = f"{pipeline} at {now:%Y-%m-%d %H:%M} failed: {_what_failed(e)}"
            log.warning(failure)
            self.timings.failed_runs.append(failure)
        if self._training_runs() > runs_before and reason != FIRST_MODEL:
            self.timings.training += time.perf_counter() - started
            self.timings.trainings += 1
        return failure

    def _training_runs(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(pipeline_runs)
                .where(pipeline_runs.c.pipeline == TRAINING, pipeline_runs.c.status != "skipped")
            ).scalar_one()


def _what_failed(error: PipelineError) -> str:
    """The failed step and the last line it printed (its own error message), else the runner's."""
    if isinstance(error, StepFailed):
        printed = [line for line in error.tail.splitlines() if line.strip()]
        return f"step {error.task!r}: {printed[-1] if printed else error.reason}"
    return str(error).splitlines()[0]
