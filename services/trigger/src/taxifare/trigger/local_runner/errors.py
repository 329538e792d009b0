"""Errors the local runner raises; each message says what is wrong and where."""


class PipelineError(Exception):
    """The run cannot go on: a bad pipeline file, bad parameters or a failed step."""


class InvalidPipeline(PipelineError):
    """The file is not a compiled KFP pipeline the runner can read."""


class UnsupportedFeature(PipelineError):
    """The pipeline uses IR features the local runner does not execute.

    Raised before any step runs, so nothing is half-done.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the local runner cannot execute this pipeline:\n{listing}")


class ParameterError(PipelineError):
    """A pipeline parameter is unknown, missing or of the wrong type."""


class StepFailed(PipelineError):
    """A step exited non-zero or did not write its outputs."""

    def __init__(self, task: str, reason: str, tail: str = "", log_path: str = ""):
        self.task = task
        self.reason = reason
        self.tail = tail
        self.log_path = log_path
        message = f"step {task!r} failed: {reason}"
        if log_path:
            message += f" (log: {log_path})"
        if tail:
            message += "\n--- last lines of its output ---\n" + tail
        super().__init__(message)
