"""Turning a container step's command and args into a real argument list.

Placeholders such as `{{$.inputs.parameters['margin']}}` or `{{$.outputs.artifacts['model'].path}}`
are replaced by values and local paths; `Concat` and `IfPresent` structures are expanded.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from taxifare.trigger.local_runner.errors import PipelineError
from taxifare.trigger.local_runner.ir import parse_structured

PLACEHOLDER = re.compile(r"\{\{\$\.([^}]*)\}\}")
INPUT_PARAMETER = re.compile(r"inputs\.parameters\['([^']+)'\]")
INPUT_ARTIFACT = re.compile(r"inputs\.artifacts\['([^']+)'\]\.(path|uri)")
OUTPUT_PARAMETER = re.compile(r"outputs\.parameters\['([^']+)'\]\.output_file")
OUTPUT_ARTIFACT = re.compile(r"outputs\.artifacts\['([^']+)'\]\.(path|uri)")


@dataclass
class Artifact:
    """An artifact on the local disk: `path` is what the step reads or writes; `uri` names it."""

    name: str
    path: str
    schema_title: str = "system.Artifact"

    @property
    def uri(self) -> str:
        return self.path


@dataclass
class StepContext:
    """Everything a step's placeholders can refer to."""

    parameters: dict[str, Any]
    parameter_types: dict[str, str]
    input_artifacts: dict[str, Artifact]
    output_parameter_files: dict[str, str]
    output_artifacts: dict[str, Artifact]
    run_values: dict[str, str] = field(default_factory=dict)


def render_value(value: Any, parameter_type: str | None = None) -> str:
    """A parameter value as the text a command line gets, as the KFP launcher renders it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if parameter_type == "NUMBER_INTEGER" or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return str(value)


def resolve_arguments(arguments: list[Any], context: StepContext) -> list[str]:
    """The argument list with every placeholder resolved; IfPresent may add or drop arguments."""
    resolved: list[str] = []
    for argument in arguments:
        resolved.extend(_resolve(argument, context))
    return resolved


def _resolve(argument: Any, context: StepContext) -> list[str]:
    structured = parse_structured(argument) if isinstance(argument, str) else argument
    if structured is None:
        return [_substitute(argument, context)]
    if isinstance(structured, list):
        return resolve_arguments(structured, context)
    if "Concat" in structured:
        return ["".join(part for item in structured["Concat"] for part in _resolve(item, context))]
    if "IfPresent" in structured:
        spec = structured["IfPresent"]
        present = spec["InputName"] in context.parameters or spec["InputName"] in context.input_artifacts
        branch = spec.get("Then" if present else "Else", [])
        return resolve_arguments(branch if isinstance(branch, list) else [branch], context)
    raise PipelineError(f"unknown structured placeholder {structured!r}")


def _substitute(text: str, context: StepContext) -> str:
    return PLACEHOLDER.sub(lambda match: _lookup(match.group(1), context), text)


def _lookup(expression: str, context: StepContext) -> str:
    if match := INPUT_PARAMETER.fullmatch(expression):
        name = match.group(1)
        if name not in context.parameters:
            raise PipelineError(f"input parameter {name!r} has no value and no default")
        return render_value(context.parameters[name], context.parameter_types.get(name))
    if match := INPUT_ARTIFACT.fullmatch(expression):
        artifact = _get(context.input_artifacts, match.group(1), "input artifact")
        return getattr(artifact, match.group(2))
    if match := OUTPUT_PARAMETER.fullmatch(expression):
        return _get(context.output_parameter_files, match.group(1), "output parameter")
    if match := OUTPUT_ARTIFACT.fullmatch(expression):
        artifact = _get(context.output_artifacts, match.group(1), "output artifact")
        return getattr(artifact, match.group(2))
    if expression in context.run_values:
        return context.run_values[expression]
    raise PipelineError(f"unsupported placeholder {{{{$.{expression}}}}}")


def _get(mapping: dict[str, Any], name: str, what: str) -> Any:
    try:
        return mapping[name]
    except KeyError:
        raise PipelineError(f"{what} {name!r} is not defined for this step") from None
