"""Several policies on one stream: each simulated in a workspace of its own, side by side.

Policies are independent, so with `jobs` > 1 they run in parallel processes (spawned: TensorFlow does
not survive a fork), each with TensorFlow on one thread, which also makes a run repeat exactly.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from taxifare.drift_checker.policy import Policy as CheckerPolicy
from taxifare.sim import workspace
from taxifare.sim.policies import parse_policy
from taxifare.sim.streams import Event, Stream, build_stream

# One thread per TensorFlow op pool: parallel policies share the cores, and a run repeats exactly.
TENSORFLOW_ENV = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


@dataclass(frozen=True)
class Plan:
    stream: str
    policies: tuple[str, ...]
    settings: dict
    state_dir: Path
    seed: int = 0
    events: tuple[Event, ...] = ()
    label_delay_days: int = 0
    database_url: str | None = None
    checker_parameters: dict = field(default_factory=dict)
    jobs: int = 1

    @property
    def run_dir(self) -> Path:
        return self.state_dir / f"{workspace.slug(self.stream)}-seed{self.seed}"

    def stream_of(self) -> Stream:
        return build_stream(self.stream, self.settings, self.seed, self.events)

    def prices(self) -> tuple[float, float]:
        """(dollars a training run, dollars a dollar of error): the checker's, as given or by default."""
        defaults = CheckerPolicy()
        return (
            float(self.checker_parameters.get("retrain_cost", defaults.retrain_cost)),
            float(self.checker_parameters.get("error_cost", defaults.error_cost)),
        )


def run_plan(plan: Plan, progress: Callable[[str, int], None] = lambda policy, days: None) -> list[dict]:
    """Every policy's scores (as JSON dicts, in the plan's order), with the excess MAE over the oracle."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    if plan.jobs <= 1 or len(plan.policies) == 1:
        results = [simulate(plan, name, lambda days, n=name: progress(n, days)) for name in plan.policies]
    else:
        results = _in_parallel(plan, progress)
    oracle = next((r for r in results if r["policy"] == "oracle"), None)
    for result in results:
        if oracle is not None and oracle["mae"] is not None and result["mae"] is not None:
            result["excess_mae_over_oracle"] = round(result["mae"] - oracle["mae"], 4)
    (plan.run_dir / "comparison.json").write_text(json.dumps(results, indent=2))
    return results


def simulate(plan: Plan, policy_name: str, progress: Callable[[int], None] = lambda days: None) -> dict:
    """One policy on the plan's stream; its scores, also written to `<run dir>/<policy>.json`."""
    from taxifare.sim.scores import score
    from taxifare.sim.simulation import Simulation

    os.environ.update(TENSORFLOW_ENV)
    stream = plan.stream_of()
    policy = parse_policy(policy_name, plan.checker_parameters)
    place = workspace.prepare(plan.run_dir / workspace.slug(policy.name), plan.database_url)
    simulation = None
    try:
        simulation = Simulation(stream, policy, place, plan.settings, plan.label_delay_days, progress)
        simulation.run()
        result = score(
            simulation.engine, stream, policy.name, plan.seed, simulation.timings, prices=plan.prices()
        ).to_json()
        result["failed_runs"] = simulation.timings.failed_runs
        result["failed_pipeline_runs"] = len(simulation.timings.failed_runs)
    except BaseException:
        if simulation is not None:
            simulation.engine.dispose()
        workspace.discard(place)
        raise
    simulation.engine.dispose()
    (plan.run_dir / f"{workspace.slug(policy.name)}.json").write_text(json.dumps(result, indent=2))
    return result


def _in_parallel(plan: Plan, progress: Callable[[str, int], None]) -> list[dict]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        ticks = manager.Queue()
        done = threading.Event()

        def relay():
            while not done.is_set():
                try:
                    progress(*ticks.get(timeout=0.2))
                except queue.Empty:
                    continue

        relay_thread = threading.Thread(target=relay, daemon=True)
        relay_thread.start()
        try:
            with ProcessPoolExecutor(min(plan.jobs, len(plan.policies)), mp_context=context) as pool:
                futures = [pool.submit(_simulate_reporting, plan, name, ticks) for name in plan.policies]
                return [f.result() for f in futures]
        finally:
            done.set()
            relay_thread.join()


def _simulate_reporting(plan: Plan, policy_name: str, ticks) -> dict:
    return simulate(plan, policy_name, lambda days: ticks.put((policy_name, days)))
