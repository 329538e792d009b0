"""The files check-deploy reads: the candidate's metrics, the live model's metrics, the evaluation data.

- candidate metrics (`trainer train`): `version`, `rmse`, `label_mean`, `eval_data_uri`, optionally
  `eval_rows` and `baseline_rmse` (the mean-fare baseline on the evaluation data; computed here from
  the evaluation data when absent).
- live metrics (`trainer evaluate`, the live model re-scored on the candidate's evaluation data):
  `{"model_uri": null}` when there is no live model, else `model_uri`, `rmse`, `mae`, `n`.
"""

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taxifare.core import storage

if TYPE_CHECKING:
    import pandas as pd

LABEL = "fare_amount"


class InputError(ValueError):
    """An input file is missing or does not hold what the contract says; the message names it."""


@dataclass(frozen=True)
class CandidateMetrics:
    version: str
    rmse: float
    label_mean: float
    eval_data_uri: str
    eval_rows: int | None
    baseline_rmse: float | None


@dataclass(frozen=True)
class LiveMetrics:
    """The live model scored on the candidate's evaluation data; `model_uri` None: no live model."""

    model_uri: str | None
    rmse: float | None = None
    n: int | None = None


def read_candidate(path: str | Path) -> CandidateMetrics:
    data = _read_json(path, "candidate metrics")
    where = f"candidate metrics {str(path)!r}"
    missing = [name for name in ("version", "rmse", "label_mean", "eval_data_uri") if data.get(name) is None]
    if missing:
        raise InputError(f"{where} lacks required field(s): {', '.join(missing)}")
    return CandidateMetrics(
        version=_text(data, "version", where),
        rmse=_number(data, "rmse", where),
        label_mean=_number(data, "label_mean", where),
        eval_data_uri=_text(data, "eval_data_uri", where),
        eval_rows=_count(data, "eval_rows", where) if data.get("eval_rows") is not None else None,
        baseline_rmse=_number(data, "baseline_rmse", where)
        if data.get("baseline_rmse") is not None
        else None,
    )


def read_live(path: str | Path) -> LiveMetrics:
    data = _read_json(path, "live metrics")
    where = f"live metrics {str(path)!r}"
    if "model_uri" not in data:
        raise InputError(f"{where} lacks model_uri (null when there is no live model)")
    if data["model_uri"] is None:
        return LiveMetrics(model_uri=None)
    missing = [name for name in ("rmse", "n") if data.get(name) is None]
    if missing:
        raise InputError(f"{where} lacks required field(s): {', '.join(missing)}")
    return LiveMetrics(
        model_uri=_text(data, "model_uri", where),
        rmse=_number(data, "rmse", where),
        n=_count(data, "n", where),
    )


def read_labels(eval_data_uri: str) -> "pd.Series":
    """The fares of the evaluation data: one Parquet file, or a folder or prefix of them."""
    # Only the first model needs this; the other commands should not pay for importing pandas.
    import pandas as pd

    uris = storage.list_uris(eval_data_uri)
    parts = [u for u in uris if u.endswith(".parquet")] if uris else [eval_data_uri]
    if not parts:
        raise InputError(f"evaluation data {eval_data_uri!r} holds no Parquet file")
    frames = []
    for uri in parts:
        try:
            frames.append(pd.read_parquet(io.BytesIO(storage.read_bytes(uri)), columns=[LABEL]))
        except storage.StorageError as e:
            raise InputError(f"evaluation data cannot be read: {e}") from None
        except (ValueError, OSError, KeyError) as e:
            raise InputError(f"evaluation data {uri!r} is not Parquet with a {LABEL} column: {e}") from None
    return pd.concat(frames, ignore_index=True)[LABEL]


def _read_json(path: str | Path, what: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{what} file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{what} file {str(path)!r} cannot be read: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{what} file {str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} file {str(path)!r} must hold a JSON object, not {type(data).__name__}")
    return data


def _text(data: dict, name: str, where: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value.strip()


def _number(data: dict, name: str, where: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def _count(data: dict, name: str, where: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}: {name} must be a count (an integer >= 0), got {value!r}")
    return value
