"""Loading a compiled pipeline (KFP IR YAML) and refusing what the local runner cannot execute.

The runner executes container steps, nested DAGs and `dsl.If`/`Elif`/`Else` conditions. Everything
else (loops, exit handlers, importers, ...) is named and refused before any step runs, rather than
being silently misexecuted.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taxifare.trigger.local_runner.errors import InvalidPipeline, UnsupportedFeature

# Placeholders the runner resolves; anything else in `{{$...}}` form is refused.
SUPPORTED_PLACEHOLDER = re.compile(
    r"\{\{\$\.(?:"
    r"inputs\.parameters\['[^']+'\]"
    r"|inputs\.artifacts\['[^']+'\]\.(?:path|uri)"
    r"|outputs\.parameters\['[^']+'\]\.output_file"
    r"|outputs\.artifacts\['[^']+'\]\.(?:path|uri)"
    r"|pipeline_job_name|pipeline_job_uuid|pipeline_job_resource_name|pipeline_job_create_time_utc"
    r"|pipeline_root|pipeline_task_name|pipeline_task_uuid"
    r")\}\}"
)
ANY_PLACEHOLDER = re.compile(r"\{\{\$[^}]*\}\}")
STRUCTURED_PLACEHOLDER_KEYS = ("Concat", "IfPresent")
# Lightweight Python components hand their whole executor input to the KFP executor library.
PYTHON_COMPONENT_PLACEHOLDERS = ("{{$}}", "{{$.outputs.output_file}}")
PYTHON_COMPONENT_HINT = ": Python function components need the KFP executor; use container components"


@dataclass
class Pipeline:
    """A compiled pipeline: its spec and the platform config (Kubernetes secrets, ...) beside it."""

    spec: dict[str, Any]
    platform: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec["pipelineInfo"]["name"]

    @property
    def root(self) -> dict[str, Any]:
        return self.spec["root"]

    def component(self, name: str) -> dict[str, Any]:
        try:
            return self.spec["components"][name]
        except KeyError:
            raise InvalidPipeline(f"component {name!r} is referenced but not defined") from None

    def executor(self, label: str) -> dict[str, Any]:
        try:
            return self.spec["deploymentSpec"]["executors"][label]
        except KeyError:
            raise InvalidPipeline(f"executor {label!r} is referenced but not defined") from None

    def platform_env_vars(self) -> dict[str, list[str]]:
        """Variables each executor gets from Kubernetes secrets and ConfigMaps on KFP, by executor label.

        Locally these come from the environment instead.
        """
        executors = self.platform.get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        return {
            label: [
                kv["envVar"]
                for source in (*config.get("secretAsEnv", []), *config.get("configMapAsEnv", []))
                for kv in source["keyToEnv"]
            ]
            for label, config in executors.items()
        }


def load_pipeline(path: str | Path) -> Pipeline:
    """Read a compiled pipeline file, checking that it is one and that the runner can execute it."""
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except FileNotFoundError:
        raise InvalidPipeline(f"pipeline file {str(path)!r} does not exist") from None
    except (OSError, yaml.YAMLError) as e:
        raise InvalidPipeline(f"cannot read pipeline file {str(path)!r}: {e}") from None
    specs = [d for d in documents if isinstance(d, dict) and "root" in d]
    if not specs:
        raise InvalidPipeline(
            f"{str(path)!r} is not a compiled KFP pipeline (no 'root' DAG); compile it with kfp first"
        )
    platform = next((d["platforms"] for d in documents if isinstance(d, dict) and "platforms" in d), {})
    pipeline = Pipeline(spec=specs[0], platform=platform)
    for key in ("pipelineInfo", "components", "deploymentSpec"):
        if key not in pipeline.spec:
            raise InvalidPipeline(f"{str(path)!r} has no {key!r} section")
    check_supported(pipeline)
    return pipeline


def check_supported(pipeline: Pipeline) -> None:
    """Raise UnsupportedFeature listing every feature the runner would not execute faithfully."""
    problems: list[str] = []
    if pipeline.root.get("inputDefinitions", {}).get("artifacts"):
        names = ", ".join(pipeline.root["inputDefinitions"]["artifacts"])
        problems.append(f"pipeline-level input artifacts ({names}): pass data as parameters instead")
    _check_dag("root", pipeline.root, pipeline, problems, seen=set())
    if problems:
        raise UnsupportedFeature(problems)


def _check_dag(where: str, component: dict, pipeline: Pipeline, problems: list[str], seen: set) -> None:
    dag = component["dag"]
    for output_name, output in {
        **dag.get("outputs", {}).get("parameters", {}),
        **dag.get("outputs", {}).get("artifacts", {}),
    }.items():
        if "valueFromOneof" in output:
            problems.append(f"dsl.OneOf output {output_name!r} of {where}")
    for task_name, task in dag.get("tasks", {}).items():
        label = f"task {task_name!r}"
        if "parameterIterator" in task or "artifactIterator" in task:
            problems.append(f"ParallelFor loop ({label})")
        strategy = task.get("triggerPolicy", {}).get("strategy")
        if strategy not in (None, "ALL_UPSTREAM_TASKS_SUCCEEDED"):
            problems.append(f"exit handler / trigger strategy {strategy} ({label})")
        for input_name, spec in task.get("inputs", {}).get("parameters", {}).items():
            if "taskFinalStatus" in spec:
                problems.append(f"PipelineTaskFinalStatus input {input_name!r} ({label})")
            if spec.get("parameterExpressionSelector"):
                problems.append(f"parameter expression selector on input {input_name!r} ({label})")
        ref = task.get("componentRef", {}).get("name")
        if ref is None:
            problems.append(f"{label} has no componentRef")
            continue
        if ref in seen:
            continue
        seen.add(ref)
        child = pipeline.component(ref)
        if "dag" in child:
            _check_dag(f"component {ref!r}", child, pipeline, problems, seen)
        else:
            _check_executor(label, child, pipeline, problems)


def _check_executor(label: str, component: dict, pipeline: Pipeline, problems: list[str]) -> None:
    executor = pipeline.executor(component["executorLabel"])
    if "importer" in executor:
        problems.append(f"importer (dsl.importer) ({label})")
        return
    if "container" not in executor:
        kind = next(iter(executor), "unknown")
        problems.append(f"executor kind {kind!r} ({label})")
        return
    container = executor["container"]
    for arg in [*container.get("command", []), *container.get("args", [])]:
        for text in _placeholder_texts(arg):
            for placeholder in ANY_PLACEHOLDER.findall(text):
                if not SUPPORTED_PLACEHOLDER.fullmatch(placeholder):
                    hint = PYTHON_COMPONENT_HINT if placeholder in PYTHON_COMPONENT_PLACEHOLDERS else ""
                    problems.append(f"placeholder {placeholder}{hint} ({label})")


def _placeholder_texts(arg: Any) -> list[str]:
    """Every plain string inside an argument, looking into Concat/IfPresent structures."""
    if isinstance(arg, str):
        structured = parse_structured(arg)
        return [arg] if structured is None else _placeholder_texts(structured)
    if isinstance(arg, list):
        return [t for item in arg for t in _placeholder_texts(item)]
    if isinstance(arg, dict):
        return [t for value in arg.values() for t in _placeholder_texts(value)]
    return []


def parse_structured(arg: str) -> dict | None:
    """The Concat/IfPresent placeholder an argument holds as JSON text, or None for a plain string."""
    if not arg.startswith('{"'):
        return None
    try:
        value = json.loads(arg)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in STRUCTURED_PLACEHOLDER_KEYS:
        return value
    return None
