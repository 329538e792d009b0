"""Typed parameter values: pipeline parameters from text, and step output parameters from files."""

import json
from typing import Any

from taxifare.trigger.local_runner.errors import ParameterError


def parse_typed(text: str, parameter_type: str, what: str) -> Any:
    """`text` as a value of a KFP parameter type; ParameterError naming `what` when it is not one."""
    try:
        if parameter_type == "NUMBER_INTEGER":
            return int(text.strip())
        if parameter_type == "NUMBER_DOUBLE":
            return float(text.strip())
        if parameter_type == "BOOLEAN":
            return {"true": True, "false": False}[text.strip().lower()]
        if parameter_type in ("LIST", "STRUCT"):
            value = json.loads(text)
            expected = list if parameter_type == "LIST" else dict
            if not isinstance(value, expected):
                raise ValueError
            return value
    except (ValueError, KeyError):
        raise ParameterError(f"{what}: {text!r} is not a valid {parameter_type}") from None
    return text


def typed_default(definition: dict) -> Any:
    """A default from the IR in its declared type (the compiler writes integer defaults as 28.0)."""
    value = definition["defaultValue"]
    if (
        definition.get("parameterType") == "NUMBER_INTEGER"
        and isinstance(value, float)
        and value.is_integer()
    ):
        return int(value)
    return value


def bind_pipeline_parameters(definitions: dict[str, dict], given: dict[str, Any]) -> dict[str, Any]:
    """The run's parameter values: given ones (text is converted to the declared type), then defaults."""
    unknown = sorted(set(given) - set(definitions))
    if unknown:
        known = ", ".join(sorted(definitions)) or "none"
        raise ParameterError(f"unknown pipeline parameter(s) {', '.join(unknown)}; known: {known}")
    values: dict[str, Any] = {}
    missing = []
    for name, definition in definitions.items():
        if name in given:
            value = given[name]
            if isinstance(value, str):
                value = parse_typed(value, definition["parameterType"], f"parameter {name!r}")
            values[name] = value
        elif "defaultValue" in definition:
            values[name] = typed_default(definition)
        elif not definition.get("isOptional"):
            missing.append(name)
    if missing:
        raise ParameterError(f"missing required pipeline parameter(s): {', '.join(sorted(missing))}")
    return values
