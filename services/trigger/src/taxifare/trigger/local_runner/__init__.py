"""Runs a compiled KFP pipeline (IR YAML) on this machine.

- `ir`: load the file, refuse unsupported features by name before anything runs
- `dag`: dependency order of a DAG's tasks
- `conditions`: `dsl.If` conditions (the CEL subset the compiler emits)
- `placeholders`: a step's command and args with values and local paths filled in
- `executors`: how a resolved step runs (`HostExecutor`: a process on this machine;
  `docker_executor.DockerExecutor`: `docker run` in the step's image; `in_process.InProcessExecutor`:
  the step's console script called inside this process)
- `runner`: `LocalRunner`, wiring it all together; `records`: the pipeline_runs table
"""

import os
from collections.abc import Callable, Mapping

from taxifare.trigger.local_runner.docker_executor import DockerExecutor, DockerSettings
from taxifare.trigger.local_runner.errors import (
    InvalidPipeline,
    ParameterError,
    PipelineError,
    StepFailed,
    UnsupportedFeature,
)
from taxifare.trigger.local_runner.executors import Executor, HostExecutor, StepInvocation, StepOutcome
from taxifare.trigger.local_runner.in_process import InProcessExecutor
from taxifare.trigger.local_runner.ir import Pipeline, load_pipeline
from taxifare.trigger.local_runner.records import RunRecorder
from taxifare.trigger.local_runner.runner import LocalRunner, RunResult, print_sink

# `--executor` choices: each makes an executor configured from the environment it is given.
EXECUTORS: dict[str, Callable[[Mapping[str, str]], Executor]] = {
    "host": lambda env: HostExecutor(),
    "docker": DockerExecutor.from_env,
    "in-process": lambda env: InProcessExecutor(),
}
EXECUTOR_ENV = "TAXIFARE_EXECUTOR"


def create_executor(name: str | None = None, env: Mapping[str, str] | None = None) -> Executor:
    """The executor called `name`, else the one `TAXIFARE_EXECUTOR` names, else `host`."""
    env = os.environ if env is None else env
    chosen = name or env.get(EXECUTOR_ENV) or "host"
    if chosen not in EXECUTORS:
        source = "--executor" if name else EXECUTOR_ENV
        raise PipelineError(
            f"{source}={chosen!r}: no such executor (choose from {', '.join(sorted(EXECUTORS))})"
        )
    return EXECUTORS[chosen](env)


__all__ = [
    "EXECUTORS",
    "EXECUTOR_ENV",
    "DockerExecutor",
    "DockerSettings",
    "Executor",
    "HostExecutor",
    "InProcessExecutor",
    "InvalidPipeline",
    "LocalRunner",
    "ParameterError",
    "Pipeline",
    "PipelineError",
    "RunRecorder",
    "RunResult",
    "StepFailed",
    "StepInvocation",
    "StepOutcome",
    "UnsupportedFeature",
    "create_executor",
    "load_pipeline",
    "print_sink",
]
