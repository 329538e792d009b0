"""Running one container step. The runner resolves everything first; an executor only runs it.

`HostExecutor` runs the step's command as a process on this machine (the services' console scripts
are installed beside this Python). `DockerExecutor` (`docker_executor`) implements the same
`Executor.run` with `docker run` in the step's image: artifact paths live under the run directory, so
mounting that directory at the same path inside a container keeps every resolved argument valid.
"""

import collections
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

TAIL_LINES = 30


@dataclass
class StepInvocation:
    """A step ready to run: its argv is fully resolved."""

    task: str
    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    log_path: Path
    # Folders the step reads and writes (the run directory); a container executor mounts them.
    volumes: list[Path] = field(default_factory=list)
    # Variables the step is declared to need (its container env, Kubernetes secrets and ConfigMaps):
    # what a container executor forwards from `env`, where the host executor passes everything.
    declared_env: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return [*self.command, *self.args]


@dataclass
class StepOutcome:
    exit_code: int
    tail: str


OutputSink = Callable[[str, str], None]


class Executor(Protocol):
    """Runs a resolved step, writing its output to `invocation.log_path` and to `sink(task, line)`."""

    name: str

    def run(self, invocation: StepInvocation, sink: OutputSink) -> StepOutcome: ...


class HostExecutor:
    """Runs each step's command as a subprocess on this machine, ignoring the step's image."""

    name = "host"

    def __init__(self, bin_dirs: list[Path] | None = None):
        # The console scripts live beside the interpreter, which need not be on PATH (an unactivated venv).
        self.bin_dirs = bin_dirs if bin_dirs is not None else [Path(sys.executable).parent]

    def run(self, invocation: StepInvocation, sink: OutputSink) -> StepOutcome:
        env = dict(invocation.env)
        env["PATH"] = os.pathsep.join([*map(str, self.bin_dirs), env.get("PATH", os.defpath)])
        env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            process = subprocess.Popen(
                invocation.argv,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                bufsize=1,
            )
        except OSError as e:
            message = f"cannot start {invocation.argv[0]!r}: {e.strerror or e}"
            invocation.log_path.write_text(message + "\n")
            return StepOutcome(exit_code=127, tail=message)
        return stream_output(process, invocation, sink)


def stream_output(
    process: subprocess.Popen,
    invocation: StepInvocation,
    sink: OutputSink,
    stop: Callable[[], None] | None = None,
) -> StepOutcome:
    """Copy the process output line by line to the log file and the sink; stop it if interrupted.

    `stop` first stops what the process runs elsewhere (a container), when terminating it is not enough.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        with invocation.log_path.open("w") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                tail.append(line.rstrip("\n"))
                sink(invocation.task, line.rstrip("\n"))
        exit_code = process.wait()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): do not leave the step running behind us.
        if stop is not None:
            stop()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    return StepOutcome(exit_code=exit_code, tail="\n".join(tail))
