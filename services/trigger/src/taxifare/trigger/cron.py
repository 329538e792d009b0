"""Validation of KFP cron expressions: 6 fields, seconds first (robfig/cron, as KFP's scheduler reads them).

KFP would accept a wrong expression and schedule something else, or reject it with a terse API
error; checking here names the field that is wrong before anything is sent.
"""

import re

FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {
    "month": {m: i for i, m in enumerate(_MONTHS, 1)},
    "day of week": {d: i for i, d in enumerate(_WEEKDAYS)},
}
_ITEM = re.compile(r"^(?P<range>\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")


class CronError(ValueError):
    """The cron expression is not one KFP's scheduler reads as intended."""


def validate_cron(expression: str) -> str:
    """The expression, normalised to single spaces; CronError naming the bad field otherwise."""
    fields = expression.split()
    if len(fields) == 5:
        raise CronError(
            f"cron {expression!r} has 5 fields; KFP wants 6 with seconds first, "
            f"e.g. '0 {expression.strip()}' for the same minutes"
        )
    if len(fields) != 6:
        raise CronError(
            f"cron {expression!r} has {len(fields)} fields; KFP wants 6, seconds first: "
            "'SEC MIN HOUR DOM MONTH DOW', e.g. '0 0 * * * *' for every hour"
        )
    for text, (name, low, high) in zip(fields, FIELDS, strict=True):
        for item in text.split(","):
            _check_item(expression, item, name, low, high)
    return " ".join(fields)


def _check_item(expression: str, item: str, name: str, low: int, high: int) -> None:
    match = _ITEM.match(item)
    if not match:
        raise CronError(f"cron {expression!r}: {name} field {item!r} is not a value, range, list or step")
    if match["step"] is not None and int(match["step"]) == 0:
        raise CronError(f"cron {expression!r}: {name} field {item!r} has a step of 0")
    part = match["range"]
    if part == "?" and name not in ("day of month", "day of week"):
        raise CronError(f"cron {expression!r}: '?' is only allowed for day of month or day of week")
    if part in ("*", "?"):
        return
    bounds = [_value(expression, v, name, low, high) for v in part.split("-")]
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise CronError(f"cron {expression!r}: {name} range {part!r} runs backwards")


def _value(expression: str, text: str, name: str, low: int, high: int) -> int:
    names = _NAMES.get(name, {})
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit() or not low <= int(text) <= high:
        raise CronError(f"cron {expression!r}: {name} {text!r} is not in {low}..{high}")
    return int(text)
