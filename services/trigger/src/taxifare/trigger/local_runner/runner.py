"""Executing a compiled pipeline on this machine, task by task, in dependency order.

A run gets a folder `<runs_dir>/<run name>/`: per step a `log.txt`, its output parameter files
(`outputs/<name>`) and its output artifacts (`artifacts/<name>`, a file or folder the step writes),
and a `run.json` summary. Parameters and artifacts flow between steps as in KFP; conditions
(`dsl.If`/`Elif`/`Else`) decide whether their sub-DAG runs. Caching is never applied: every step runs.
"""

import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from taxifare.core import clock
from taxifare.trigger.local_runner import conditions
from taxifare.trigger.local_runner.dag import execution_order
from taxifare.trigger.local_runner.errors import PipelineError, StepFailed
from taxifare.trigger.local_runner.executors import Executor, OutputSink, StepInvocation
from taxifare.trigger.local_runner.ir import Pipeline
from taxifare.trigger.local_runner.parameters import bind_pipeline_parameters, parse_typed, typed_default
from taxifare.trigger.local_runner.placeholders import Artifact, StepContext, resolve_arguments
from taxifare.trigger.local_runner.records import RunRecorder

log = logging.getLogger(__name__)

RUN_PLACEHOLDER = re.compile(r"\{\{\$\.(pipeline_\w+)\}\}")


@dataclass
class TaskResult:
    status: str  # succeeded | skipped
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)


@dataclass
class StepRecord:
    task: str
    status: str
    log: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    run_name: str
    run_dir: Path
    pipeline: str
    status: str
    message: str
    parameters: dict[str, Any]
    steps: list[StepRecord]
    record_id: int | None = None

    def step(self, task: str) -> StepRecord:
        return next(s for s in self.steps if s.task == task)


class _Scope:
    """The inputs of the DAG being executed and the results of its tasks so far."""

    def __init__(self, parameters: dict[str, Any], artifacts: dict[str, Artifact], prefix: str):
        self.parameters = parameters
        self.artifacts = artifacts
        self.prefix = prefix
        self.results: dict[str, TaskResult] = {}

    def path(self, task_name: str) -> str:
        return f"{self.prefix}/{task_name}" if self.prefix else task_name


def print_sink(stream) -> OutputSink:
    def sink(task: str, line: str) -> None:
        print(f"[{task}] {line}", file=stream, flush=True)

    return sink


class LocalRunner:
    def __init__(
        self,
        executor: Executor,
        runs_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        sink: OutputSink | None = None,
        recorder: RunRecorder | None = None,
        now: Callable[[], datetime] = clock.utcnow,
    ):
        self.executor = executor
        self.runs_dir = Path(runs_dir)
        self.env = dict(os.environ if env is None else env)
        self.sink = sink or (lambda task, line: None)
        self.recorder = recorder
        self.now = now

    def run(
        self,
        pipeline: Pipeline,
        parameters: Mapping[str, Any] | None = None,
        *,
        record_id: int | None = None,
        triggered_by: str | None = None,
        reason: str | None = None,
    ) -> RunResult:
        """Run the pipeline to the end; raises PipelineError (after recording it) if a step fails.

        `record_id` continues a pipeline_runs row a caller already created (e.g. a trigger that
        checked no other run was in flight); otherwise the runner creates one when it has a recorder.
        """
        values = bind_pipeline_parameters(
            pipeline.root.get("inputDefinitions", {}).get("parameters", {}), dict(parameters or {})
        )
        started = self.now()
        run_name = f"{pipeline.name}-{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        run_dir = self.runs_dir / run_name
        run_dir.mkdir(parents=True)
        if self.recorder and record_id is None:
            record_id = self.recorder.create(
                pipeline.name, f"local-{self.executor.name}", values, triggered_by, reason
            )
        if self.recorder:
            self.recorder.started(record_id, run_name)
        execution = _Execution(self, pipeline, run_name, run_dir, started)
        log.info("run %s started", run_name, extra={"run_dir": str(run_dir), "parameters": values})
        result = RunResult(
            run_name, run_dir, pipeline.name, "running", "", values, execution.steps, record_id
        )
        try:
            execution.run_dag(pipeline.root, _Scope(values, {}, ""))
        except BaseException as e:
            # Ctrl-C or SIGTERM counts as a failure too: the row must not stay "running".
            result.status = "failed"
            result.message = str(e) if isinstance(e, PipelineError) else f"interrupted ({type(e).__name__})"
            self._finish(result)
            raise
        ran = sum(s.status == "succeeded" for s in result.steps)
        skipped = sum(s.status == "skipped" for s in result.steps)
        result.status = "succeeded"
        result.message = f"{ran} step(s) succeeded, {skipped} skipped by conditions"
        self._finish(result)
        return result

    def _finish(self, result: RunResult) -> None:
        summary = asdict(result)
        summary["run_dir"] = str(result.run_dir)
        (result.run_dir / "run.json").write_text(json.dumps(summary, indent=2, default=str))
        if self.recorder and result.record_id is not None:
            self.recorder.finished(result.record_id, result.status == "succeeded", result.message)
        log.info("run %s %s: %s", result.run_name, result.status, result.message.splitlines()[0])


class _Execution:
    """One run's state while its DAGs execute."""

    def __init__(self, runner: LocalRunner, pipeline: Pipeline, run_name: str, run_dir: Path, started):
        self.runner = runner
        self.pipeline = pipeline
        self.run_dir = run_dir
        self.steps: list[StepRecord] = []
        self.run_values = {
            "pipeline_job_name": run_name,
            "pipeline_job_resource_name": run_name,
            "pipeline_job_uuid": str(uuid.uuid4()),
            "pipeline_job_create_time_utc": started.isoformat(),
            "pipeline_root": str(run_dir),
        }
        self.platform_env_vars = pipeline.platform_env_vars()

    def run_dag(self, component: dict, scope: _Scope) -> TaskResult:
        tasks = component["dag"].get("tasks", {})
        for name in execution_order(tasks):
            scope.results[name] = self.run_task(name, tasks[name], scope)
        return self._dag_outputs(component, scope)

    def run_task(self, name: str, task: dict, scope: _Scope) -> TaskResult:
        path = scope.path(name)
        component = self.pipeline.component(task["componentRef"]["name"])
        parameters, artifacts = self._task_inputs(path, task, component, scope)
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not conditions.evaluate(condition, parameters):
            log.info("step %s skipped: condition %s is false", path, condition)
            self.steps.append(StepRecord(path, "skipped"))
            return TaskResult("skipped")
        if "dag" in component:
            return self.run_dag(component, _Scope(parameters, artifacts, path))
        return self._run_container(path, task, component, parameters, artifacts)

    def _task_inputs(self, path: str, task: dict, component: dict, scope: _Scope):
        inputs = task.get("inputs", {})
        definitions = component.get("inputDefinitions", {})
        parameters: dict[str, Any] = {}
        for key, spec in inputs.get("parameters", {}).items():
            if "runtimeValue" in spec:
                parameters[key] = self._run_placeholders(spec["runtimeValue"]["constant"], path)
            elif "componentInputParameter" in spec:
                if spec["componentInputParameter"] in scope.parameters:
                    parameters[key] = scope.parameters[spec["componentInputParameter"]]
            elif "taskOutputParameter" in spec:
                source = spec["taskOutputParameter"]
                producer = self._producer(path, key, source["producerTask"], scope)
                parameters[key] = producer.parameters[source["outputParameterKey"]]
        for key, definition in definitions.get("parameters", {}).items():
            if key not in parameters and "defaultValue" in definition:
                parameters[key] = typed_default(definition)
        artifacts: dict[str, Artifact] = {}
        for key, spec in inputs.get("artifacts", {}).items():
            if "componentInputArtifact" in spec:
                artifacts[key] = scope.artifacts[spec["componentInputArtifact"]]
            elif "taskOutputArtifact" in spec:
                source = spec["taskOutputArtifact"]
                producer = self._producer(path, key, source["producerTask"], scope)
                artifacts[key] = producer.artifacts[source["outputArtifactKey"]]
        return parameters, artifacts

    def _run_placeholders(self, value: Any, path: str) -> Any:
        """A constant such as `dsl.PIPELINE_JOB_ID_PLACEHOLDER` passed as an argument gets its value."""
        if not isinstance(value, str) or "{{$." not in value:
            return value
        run_values = self._task_values(path)
        return RUN_PLACEHOLDER.sub(lambda m: run_values.get(m.group(1), m.group(0)), value)

    def _task_values(self, path: str) -> dict[str, str]:
        return {
            **self.run_values,
            "pipeline_task_name": path.rsplit("/", 1)[-1],
            "pipeline_task_uuid": str(uuid.uuid5(uuid.UUID(self.run_values["pipeline_job_uuid"]), path)),
        }

    @staticmethod
    def _producer(path: str, key: str, producer: str, scope: _Scope) -> TaskResult:
        result = scope.results[producer]
        if result.status == "skipped":
            raise PipelineError(f"step {path!r} needs input {key!r} from {producer!r}, which was skipped")
        return result

    def _run_container(self, path, task, component, parameters, artifacts) -> TaskResult:
        label = component["executorLabel"]
        container = self.pipeline.executor(label)["container"]
        step_dir = self.run_dir / path
        (step_dir / "outputs").mkdir(parents=True, exist_ok=True)
        (step_dir / "artifacts").mkdir(exist_ok=True)
        outputs = component.get("outputDefinitions", {})
        parameter_files = {name: str(step_dir / "outputs" / name) for name in outputs.get("parameters", {})}
        output_artifacts = {
            name: Artifact(name, str(step_dir / "artifacts" / name), spec["artifactType"]["schemaTitle"])
            for name, spec in outputs.get("artifacts", {}).items()
        }
        input_types = {
            name: d["parameterType"]
            for name, d in component.get("inputDefinitions", {}).get("parameters", {}).items()
        }
        self._check_required(path, component, parameters, artifacts)
        context = StepContext(
            parameters, input_types, artifacts, parameter_files, output_artifacts, self._task_values(path)
        )
        try:
            command = resolve_arguments(container.get("command", []), context)
            args = resolve_arguments(container.get("args", []), context)
        except PipelineError as e:
            raise StepFailed(path, str(e)) from None
        env = {**self.runner.env, **{e["name"]: e["value"] for e in container.get("env", [])}}
        declared = self.platform_env_vars.get(label, [])
        missing = [v for v in declared if v not in env]
        if missing:
            log.info(
                "step %s takes %s from Kubernetes on KFP; not set here, so it uses its default",
                path,
                ", ".join(missing),
            )
        invocation = StepInvocation(
            path,
            container.get("image", ""),
            command,
            args,
            env,
            step_dir / "log.txt",
            volumes=[self.run_dir],
            declared_env=[*declared, *(e["name"] for e in container.get("env", []))],
        )
        attempts = 1 + int(task.get("retryPolicy", {}).get("maxRetryCount", 0))
        for attempt in range(1, attempts + 1):
            log.info("step %s started", path, extra={"argv": invocation.argv, "attempt": attempt})
            outcome = self.runner.executor.run(invocation, self.runner.sink)
            if outcome.exit_code == 0:
                break
            log.warning(
                "step %s exited with code %s (attempt %s of %s)", path, outcome.exit_code, attempt, attempts
            )
        else:
            self.steps.append(StepRecord(path, "failed", str(invocation.log_path)))
            raise StepFailed(path, f"exit code {outcome.exit_code}", outcome.tail, str(invocation.log_path))
        result = TaskResult(
            "succeeded", self._read_outputs(path, outputs, parameter_files, invocation), output_artifacts
        )
        for name, artifact in output_artifacts.items():
            if not os.path.exists(artifact.path):
                self.steps.append(StepRecord(path, "failed", str(invocation.log_path)))
                raise StepFailed(
                    path,
                    f"it did not write its output artifact {name!r} ({artifact.path})",
                    outcome.tail,
                    str(invocation.log_path),
                )
        self.steps.append(StepRecord(path, "succeeded", str(invocation.log_path), result.parameters))
        log.info("step %s succeeded", path, extra={"outputs": result.parameters})
        return result

    def _read_outputs(self, path, outputs, parameter_files, invocation) -> dict[str, Any]:
        values = {}
        for name, definition in outputs.get("parameters", {}).items():
            file = Path(parameter_files[name])
            if not file.is_file():
                self.steps.append(StepRecord(path, "failed", str(invocation.log_path)))
                raise StepFailed(
                    path,
                    f"it did not write its output parameter {name!r} ({file})",
                    "",
                    str(invocation.log_path),
                )
            try:
                values[name] = parse_typed(
                    file.read_text(), definition["parameterType"], f"output parameter {name!r}"
                )
            except PipelineError as e:
                self.steps.append(StepRecord(path, "failed", str(invocation.log_path)))
                raise StepFailed(path, str(e), "", str(invocation.log_path)) from None
        return values

    @staticmethod
    def _check_required(path: str, component: dict, parameters: dict, artifacts: dict) -> None:
        definitions = component.get("inputDefinitions", {})
        missing = [
            name
            for name, d in definitions.get("parameters", {}).items()
            if name not in parameters and not d.get("isOptional")
        ] + [
            name
            for name, d in definitions.get("artifacts", {}).items()
            if name not in artifacts and not d.get("isOptional")
        ]
        if missing:
            raise StepFailed(path, f"required input(s) without a value: {', '.join(sorted(missing))}")

    @staticmethod
    def _dag_outputs(component: dict, scope: _Scope) -> TaskResult:
        outputs = component["dag"].get("outputs", {})
        result = TaskResult("succeeded")
        for name, spec in outputs.get("parameters", {}).items():
            source = spec["valueFromParameter"]
            producer = _Execution._producer(
                scope.prefix or "pipeline", name, source["producerSubtask"], scope
            )
            result.parameters[name] = producer.parameters[source["outputParameterKey"]]
        for name, spec in outputs.get("artifacts", {}).items():
            source = spec["artifactSelectors"][0]
            producer = _Execution._producer(
                scope.prefix or "pipeline", name, source["producerSubtask"], scope
            )
            result.artifacts[name] = producer.artifacts[source["outputArtifactKey"]]
        return result
