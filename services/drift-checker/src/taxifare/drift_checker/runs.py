"""The trigger's answer about the training runs (`taxifare-trigger in-flight`), which a check weighs.

The trigger owns the run records: it asks KFP about its runs and applies its one staleness rule before
answering, so the check holds back exactly while the trigger would refuse to start another run, and
no longer once a run has ended. Without an answer (the step run alone) nothing is held back for a run
in flight, and the reason says so; the trigger's own guard still refuses a second run.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from taxifare.core import clock
from taxifare.drift_checker.policy import InFlightRun


@dataclass(frozen=True)
class TrainingRuns:
    pipeline: str
    in_flight: InFlightRun | None
    newest_recorded_at: datetime | None  # when a run of the pipeline was last recorded, any outcome
    note: str | None = None  # what the trigger could not check (an unreachable KFP)


def parse_training_runs(text: str | None) -> TrainingRuns | None:
    """The JSON object `taxifare-trigger in-flight` writes; None for no answer (empty)."""
    if not text or not text.strip():
        return None
    try:
        answer = json.loads(text)
        pipeline = str(answer["pipeline"])
        in_flight = None
        if answer["in_flight"]:
            in_flight = InFlightRun(
                pipeline, int(answer["run_id"]), str(answer["status"]), _time(answer["since"])
            )
        newest = _time(answer["newest_recorded_at"]) if answer.get("newest_recorded_at") else None
        return TrainingRuns(pipeline, in_flight, newest, answer.get("note"))
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(
            f"--training-runs is not the JSON object `taxifare-trigger in-flight` writes ({type(e).__name__}: {e})"
        ) from None


def _time(text) -> datetime:
    return clock.parse(str(text))
