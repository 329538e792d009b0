"""Retraining policies under test: when, on the simulated clock, the training pipeline runs.

- `never`: the first model serves the whole stream.
- `every:N`: a training run every N simulated days (at the end of days 0, N, 2N, ...).
- `seed`: the retraining-checker pipeline with the original design's rule, the mean gap alone.
- `signals`: the retraining-checker pipeline with the rule of the previous release: any signal (mean
  gap, distribution, performance) retrains.
- `checker`: the retraining-checker pipeline as shipped, its defaults (the cost rule).
- `oracle`: knows the stream's events: retrains once the data store holds a full training window of
  each new regime (train + eval days that hold trips, counted from the day the change is fully in
  force, as the trainer counts its window).

`checker` and `seed` run the real retraining-checker pipeline (its decision step, then its trigger
step, which runs the training pipeline); the others run the training pipeline itself through the same
trigger. Every run is recorded in `pipeline_runs` with who started it and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from taxifare.sim.simulation import Simulation

POLICY_NAMES = ("never", "every:N", "seed", "signals", "checker", "oracle")
# The retraining-checker's rule behind each checking policy.
CHECKER_RULES = {"checker": "cost", "signals": "signals", "seed": "seed"}


class PolicyError(ValueError):
    """A policy name that does not parse, or one that does not fit the stream."""


class Policy(Protocol):
    name: str

    def cadence_hours(self, settings: dict) -> float:
        """How often, in simulated hours, the policy is asked."""

    def act(self, sim: Simulation, now: datetime, check: int) -> None:
        """The policy's turn at `now`, its `check`-th turn (0 first): retrain or not."""


@dataclass(frozen=True)
class Never:
    name: str = "never"

    def cadence_hours(self, settings: dict) -> float:
        return 24.0

    def act(self, sim: Simulation, now: datetime, check: int) -> None:
        pass


@dataclass(frozen=True)
class Every:
    days: int
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "name", f"every:{self.days}")

    def cadence_hours(self, settings: dict) -> float:
        return 24.0

    def act(self, sim: Simulation, now: datetime, check: int) -> None:
        if check % self.days == 0:
            sim.retrain(now, f"{self.name}: a training run every {self.days} day(s)")


@dataclass
class Oracle:
    name: str = "oracle"
    retrained_for: set = field(default_factory=set)  # the events it has retrained for

    def cadence_hours(self, settings: dict) -> float:
        return 24.0

    def act(self, sim: Simulation, now: datetime, check: int) -> None:
        window = int(sim.settings["train_days"]) + int(sim.settings["eval_days"])
        waiting = [e for e in sim.stream.events if e.name not in self.retrained_for and e.full < now.date()]
        if not waiting:
            return
        days = sim.store.days()
        for event in waiting:
            # The first training window that holds the new regime only: `window` days with trips.
            if sum(event.full <= day < now.date() for day in days) >= window:
                self.retrained_for.add(event.name)
                sim.retrain(now, f"oracle: {window} days of trips since {event.name} ({event.full})")
                return


@dataclass(frozen=True)
class Checker:
    """The retraining-checker pipeline at the stream's cadence; `rule` and `parameters` are its own."""

    rule: str = "cost"
    name: str = "checker"
    parameters: dict = field(default_factory=dict)

    def cadence_hours(self, settings: dict) -> float:
        return float(settings["cadence_hours"])

    def act(self, sim: Simulation, now: datetime, check: int) -> None:
        s = sim.settings
        parameters = {
            "rule": self.rule,
            # The cost rule's data-sufficiency holds are in the training pipeline's days: this
            # stream's (the checker's defaults are those of the pipeline's defaults, 60 + 7).
            "min_new_data_hours": (int(s["eval_days"]) + 1) * 24.0,
            "training_window_days": float(int(s["train_days"]) + int(s["eval_days"])),
            "window_hours": float(s["window_hours"]),
            "min_predictions": int(s["min_predictions"]),
            "min_actuals": int(s["min_actuals"]),
            "cooldown_hours": float(s.get("cooldown_hours", 6.0)),
            "backend": "local",
            "training_parameters": json.dumps(sim.training_parameters(now)),
            "now": now.isoformat(),
            **self.parameters,
        }
        sim.check(now, parameters)


def parse_policy(text: str, checker_parameters: dict | None = None) -> Policy:
    name = text.strip()
    if name == "never":
        return Never()
    if name == "oracle":
        return Oracle()
    if name in CHECKER_RULES:
        return Checker(rule=CHECKER_RULES[name], name=name, parameters=dict(checker_parameters or {}))
    if name.startswith("every:"):
        try:
            days = int(name.removeprefix("every:"))
        except ValueError:
            days = 0
        if days < 1:
            raise PolicyError(f"policy {text!r}: every:N needs a whole number of days N >= 1")
        return Every(days)
    raise PolicyError(f"unknown policy {text!r}; choose from {', '.join(POLICY_NAMES)}")
