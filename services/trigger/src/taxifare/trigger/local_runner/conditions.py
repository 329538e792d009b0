"""Evaluating `dsl.If` conditions: the small part of CEL that the KFP compiler emits.

The compiler writes conditions such as
`int(inputs.parameter_values['pipelinechannel--n']) > 2 && !(... == 'true')`:
parameter look-ups, literals, casts, comparisons, `!`, `&&`, `||` and parentheses.
"""

import re
from typing import Any

from taxifare.trigger.local_runner.errors import PipelineError

TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\]])"
    r")"
)
COMPARISONS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
LITERALS = {"true": True, "false": False, "null": None}


class ConditionError(PipelineError):
    """A condition the runner cannot parse or evaluate."""


def evaluate(condition: str, parameter_values: dict[str, Any]) -> bool:
    """The truth of a compiled `triggerPolicy.condition` given the task's input parameter values."""
    parser = _Parser(condition, parameter_values)
    value = parser.parse()
    if not isinstance(value, bool):
        raise ConditionError(f"condition {condition!r} gives {value!r}, not true or false")
    return value


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ConditionError(f"cannot parse condition {text!r} at {text[position:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes (conditions are tiny)."""

    def __init__(self, text: str, parameter_values: dict[str, Any]):
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0
        self.values = parameter_values

    def parse(self) -> Any:
        value = self._or()
        if self.position != len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.position][1]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            self._fail("unexpected end")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            self._fail(f"expected {expected!r}, found {token[1]!r}")
        self.position += 1
        return token

    def _fail(self, what: str):
        raise ConditionError(f"cannot evaluate condition {self.text!r}: {what}")

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = self._bool(value) or self._bool(right)
        return value

    def _and(self) -> Any:
        value = self._comparison()
        while self._peek() == "&&":
            self._take()
            right = self._comparison()
            value = self._bool(value) and self._bool(right)
        return value

    def _comparison(self) -> Any:
        left = self._unary()
        operator = self._peek()
        if operator in COMPARISONS:
            self._take()
            right = self._unary()
            self._check_comparable(left, right, operator)
            return COMPARISONS[operator](left, right)
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not self._bool(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name" and text in LITERALS:
            return LITERALS[text]
        if kind == "name" and text in ("int", "double", "string", "bool"):
            self._take("(")
            value = self._or()
            self._take(")")
            return self._cast(text, value)
        if kind == "name" and text == "inputs":
            self._take(".")
            self._take("parameter_values")
            return self._index(self.values, "input parameters")
        self._fail(f"unexpected {text!r}")

    def _index(self, container: Any, what: str) -> Any:
        self._take("[")
        key = self._primary()
        self._take("]")
        try:
            value = container[key]
        except (KeyError, IndexError, TypeError):
            self._fail(f"{key!r} is not among the {what}")
        if self._peek() == "[":
            return self._index(value, f"entries of {key!r}")
        return value

    def _cast(self, kind: str, value: Any) -> Any:
        try:
            if kind == "int":
                return int(float(value)) if isinstance(value, str) else int(value)
            if kind == "double":
                return float(value)
            if kind == "string":
                if isinstance(value, bool):
                    return "true" if value else "false"
                return str(value)
            return value if isinstance(value, bool) else {"true": True, "false": False}[value]
        except (ValueError, TypeError, KeyError):
            self._fail(f"cannot convert {value!r} with {kind}()")

    def _bool(self, value: Any) -> bool:
        if not isinstance(value, bool):
            self._fail(f"{value!r} is not true or false")
        return value

    def _check_comparable(self, left: Any, right: Any, operator: str) -> None:
        numbers = (int, float)
        both_numbers = isinstance(left, numbers) and isinstance(right, numbers)
        both_numbers = both_numbers and not isinstance(left, bool) and not isinstance(right, bool)
        if both_numbers or type(left) is type(right):
            return
        self._fail(f"cannot compare {left!r} {operator} {right!r} (different types)")
