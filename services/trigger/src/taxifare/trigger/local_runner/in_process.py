"""`InProcessExecutor`: each step's console script called as a function inside this process.

A step started as a process of its own imports its libraries again: TensorFlow alone takes seconds,
paid by every step of every training run. This executor looks up the console script that the step's
command names (an installed entry point of the `console_scripts` group, e.g. `taxifare-trainer`) and
calls it with the step's arguments, the step's environment in `os.environ`, and its output captured
line by line as the host executor does. What runs is still decided by the compiled pipeline: the runner
resolves the DAG, conditions, parameters and artifacts exactly as for the other executors.

A step starts as in a process of its own, with no logging set up, and what it may change in the
process is put back after it: `os.environ`, the root logger's handlers and level, the SIGTERM handler
and the working directory. Steps run one at a time, as the runner runs
them; a step that starts a pipeline of its own (the trigger step) nests: its steps run here too.
"""

import collections
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from importlib import metadata

from taxifare.trigger.local_runner.executors import TAIL_LINES, OutputSink, StepInvocation, StepOutcome


class InProcessExecutor:
    name = "in-process"

    def run(self, invocation: StepInvocation, sink: OutputSink) -> StepOutcome:
        script = invocation.argv[0] if invocation.argv else ""
        main = console_script(script)
        with invocation.log_path.open("w") as log:
            output = _StepOutput(invocation.task, log, sink)
            if main is None:
                output.write(f"no installed console script named {script!r} to run in this process\n")
                return StepOutcome(exit_code=127, tail=output.tail())
            with _step_environment(invocation.env), _captured(output):
                exit_code = _call(main, invocation.argv[1:])
            output.finish()
        return StepOutcome(exit_code=exit_code, tail=output.tail())


@functools.cache
def console_script(name: str) -> Callable | None:
    """The function behind an installed console script, or None where no package installs one."""
    found = metadata.entry_points(group="console_scripts", name=name)
    return next(iter(found)).load() if found else None


def _call(main: Callable, args: list[str]) -> int:
    """Call `main(args)` as the interpreter would run the script: its exit status, a traceback on error."""
    try:
        returned = main(args)
    except SystemExit as e:
        returned = e.code
    except KeyboardInterrupt:
        raise
    except BaseException:
        traceback.print_exc()
        return 1
    if returned is None or isinstance(returned, int):
        return returned or 0
    print(returned, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1


@contextlib.contextmanager
def _step_environment(env: dict[str, str]) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    in_main_thread = threading.current_thread() is threading.main_thread()
    saved_sigterm = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    os.environ.clear()
    os.environ.update(env)
    # As in a process of its own: no logging set up until the step sets it up.
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        if in_main_thread:
            signal.signal(signal.SIGTERM, saved_sigterm)


@contextlib.contextmanager
def _captured(output: "_StepOutput") -> Iterator[None]:
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        yield


class _StepOutput:
    """What the step prints, to its log file and, line by line, to the sink (stdout and stderr alike).

    A library may keep it as its stream beyond the step (a logging handler made during it): what it
    writes after the step goes to this process's stderr.
    """

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, task: str, log, sink: OutputSink):
        self._task = task
        self._log = log
        self._sink = sink
        self._partial = ""
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._finished = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if self._finished:
            return sys.__stderr__.write(text)
        self._log.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if not self._finished:
            self._log.flush()

    def close(self) -> None:
        """Closing is the step's end (`finish`), not a library's to do."""

    def finish(self) -> None:
        """Pass on a last line without a newline; later writes go to stderr."""
        if self._partial:
            self._emit(self._partial)
            self._partial = ""
        self._log.flush()
        self._finished = True

    def tail(self) -> str:
        return "\n".join(self._tail)

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        self._tail.append(line)
        self._sink(self._task, line)
