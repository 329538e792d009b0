"""Reading and checking the metrics file the trainer's `train` step writes.

The file is one JSON object. Required: `version`, `model_uri`, `eval_data_uri`, `data_start`,
`data_end` (ISO dates), `rmse`, `mae`, `label_mean`, `label_std` (finite numbers), `train_rows`,
`eval_rows` (counts) and `reference_stats` (an object). Optional: `input_bounds`, the training
data's ranges `{"pickup_latitude": [low, high], ..., "fare_amount": [low, high]}`, which bound what
the predictor accepts and serves for this version (files of older trainers lack it). Every other
top-level number (for example `prediction_mean`, `baseline_rmse`) is stored as a training metric too.
"""

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

_TEXT_FIELDS = ("version", "model_uri", "eval_data_uri")
_DATE_FIELDS = ("data_start", "data_end")
_NUMBER_FIELDS = ("rmse", "mae", "label_mean", "label_std")
_COUNT_FIELDS = ("train_rows", "eval_rows")
REQUIRED_FIELDS = (*_TEXT_FIELDS, *_DATE_FIELDS, *_NUMBER_FIELDS, *_COUNT_FIELDS, "reference_stats")
# training_metrics.name is a String(64)
_MAX_NAME = 64


class MetricsFileError(ValueError):
    """The metrics file is missing, unreadable or incomplete; the message says which and why."""


@dataclass(frozen=True)
class TrainingRun:
    """What the registry needs to know about one trained model."""

    version: str
    model_uri: str
    eval_data_uri: str
    data_start: date
    data_end: date
    train_rows: int
    eval_rows: int
    label_mean: float
    label_std: float
    rmse: float
    mae: float
    reference_stats: dict
    metrics: dict[str, float]
    input_bounds: dict[str, list[float]] | None = None


def read_metrics_file(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise MetricsFileError(f"metrics file {str(path)!r} does not exist") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as e:
        raise MetricsFileError(f"metrics file {str(path)!r} cannot be read: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MetricsFileError(f"metrics file {str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise MetricsFileError(
            f"metrics file {str(path)!r} must hold a JSON object, not {type(data).__name__}"
        )
    return data


def training_run(data: dict[str, Any], source: str = "metrics file") -> TrainingRun:
    """Check `data` against the contract above; every problem is named in one error."""
    missing = [name for name in REQUIRED_FIELDS if data.get(name) is None]
    if missing:
        raise MetricsFileError(f"{source} lacks required field(s): {', '.join(missing)}")
    problems = []
    for name in _TEXT_FIELDS:
        if not isinstance(data[name], str) or not data[name].strip():
            problems.append(f"{name} must be a non-empty string, got {data[name]!r}")
    for name in _NUMBER_FIELDS:
        if not _is_finite_number(data[name]):
            problems.append(f"{name} must be a finite number, got {data[name]!r}")
    for name in _COUNT_FIELDS:
        if not (isinstance(data[name], int) and not isinstance(data[name], bool) and data[name] >= 0):
            problems.append(f"{name} must be a count (an integer >= 0), got {data[name]!r}")
    if not isinstance(data["reference_stats"], dict):
        problems.append(f"reference_stats must be an object, got {type(data['reference_stats']).__name__}")
    problems.extend(_bounds_problems(data.get("input_bounds")))
    dates = {}
    for name in _DATE_FIELDS:
        try:
            dates[name] = _parse_date(data[name])
        except ValueError:
            problems.append(f"{name} must be an ISO date (YYYY-MM-DD), got {data[name]!r}")
    not_finite = [
        name for name, value in data.items() if isinstance(value, float) and not math.isfinite(value)
    ]
    problems.extend(
        f"{name} is not finite ({data[name]!r})" for name in not_finite if name not in _NUMBER_FIELDS
    )
    if problems:
        raise MetricsFileError(f"{source} is invalid: " + "; ".join(problems))
    if dates["data_start"] > dates["data_end"]:
        raise MetricsFileError(
            f"{source} is invalid: data_start {data['data_start']} is after data_end {data['data_end']}"
        )
    return TrainingRun(
        version=data["version"].strip(),
        model_uri=data["model_uri"],
        eval_data_uri=data["eval_data_uri"],
        data_start=dates["data_start"],
        data_end=dates["data_end"],
        train_rows=data["train_rows"],
        eval_rows=data["eval_rows"],
        label_mean=float(data["label_mean"]),
        label_std=float(data["label_std"]),
        rmse=float(data["rmse"]),
        mae=float(data["mae"]),
        reference_stats=data["reference_stats"],
        input_bounds=data.get("input_bounds"),
        metrics={
            name: float(value)
            for name, value in data.items()
            if _is_finite_number(value) and len(name) <= _MAX_NAME
        },
    )


def _bounds_problems(bounds: object) -> list[str]:
    if bounds is None:
        return []
    if not isinstance(bounds, dict):
        return [f"input_bounds must be an object, got {type(bounds).__name__}"]
    return [
        f"input_bounds.{name} must be [low, high] finite numbers with low <= high, got {pair!r}"
        for name, pair in bounds.items()
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(map(_is_finite_number, pair))
            and pair[0] <= pair[1]
        )
    ]


def _parse_date(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError(value)
    # A full timestamp is accepted too: the window's day is what matters.
    return datetime.fromisoformat(value.strip()).date()


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
