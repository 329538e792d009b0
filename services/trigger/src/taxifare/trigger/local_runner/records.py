"""Recording runs in the `pipeline_runs` table: pending -> running -> succeeded or failed.

The runner records through `taxifare.trigger.runs`, the one module that writes that table (it also
holds the trigger's in-flight guard), so a run started by `run-local` and one started by `run` are
recorded the same way.
"""

from taxifare.trigger.runs import MESSAGE_LIMIT, RunRecorder

__all__ = ["MESSAGE_LIMIT", "RunRecorder"]
