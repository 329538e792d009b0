"""The demo's running account: one line a step, stamped with the wall time since the start."""

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


class Timeline:
    def __init__(self, out: TextIO = sys.stdout, clock=time.monotonic):
        self._out = out
        self._clock = clock
        self._start = clock()
        self.lines: list[str] = []

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def step(self, text: str) -> None:
        """A step of the loop, as it starts or ends."""
        self._emit(f"[{format_seconds(self.elapsed):>5}] {text}")

    def detail(self, text: str) -> None:
        """A fact under the step above (a reason, a figure)."""
        self._emit(f"        {text}")

    def _emit(self, line: str) -> None:
        self.lines.append(line.strip())
        print(line, file=self._out, flush=True)
