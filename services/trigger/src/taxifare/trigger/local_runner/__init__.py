"""Runs a compiled KFP pipeline (IR YAML) on this machine.

- `ir`: load the file, refuse unsupported features by name before anything runs
- `dag`: dependency order of a DAG's tasks
- `conditions`: `dsl.If` conditions (the CEL subset the compiler emits)
- `placeholders`: a step's command and args with values and local paths filled in
- `executors`: how a resolved step runs (`HostExecutor`: a process on this machine)
- `runner`: `LocalRunner`, wiring it all together; `records`: the pipeline_runs table
"""

from taxifare.trigger.local_runner.errors import (
    InvalidPipeline,
    ParameterError,
    PipelineError,
    StepFailed,
    UnsupportedFeature,
)
from taxifare.trigger.local_runner.executors import Executor, HostExecutor, StepInvocation, StepOutcome
from taxifare.trigger.local_runner.ir import Pipeline, load_pipeline
from taxifare.trigger.local_runner.records import RunRecorder
from taxifare.trigger.local_runner.runner import LocalRunner, RunResult, print_sink

__all__ = [
    "Executor",
    "HostExecutor",
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
    "load_pipeline",
    "print_sink",
]
