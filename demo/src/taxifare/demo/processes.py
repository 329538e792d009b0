"""The processes the demo starts: the services' command lines, run to the end, and the predictor server.

Every child runs in its own session, so that the demo decides how it stops: on Ctrl-C or a failure it
sends SIGTERM (the trigger then records its run as failed, gunicorn flushes its prediction logs), waits,
and kills what is left. Each child's output goes to its own log file; the demo prints only a timeline.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import requests

STOP_GRACE_SECONDS = 30.0
TAIL_LINES = 25


class StepFailed(RuntimeError):
    """A command exited non-zero, or a server did not come up; the message ends with its output's tail."""


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return ""


def stop_process(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL to its whole session if it has not exited within `grace` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Commands:
    """Runs the services' command lines with the demo's environment, one log file each."""

    def __init__(self, env: dict[str, str], logs_dir: Path, echo: bool = False):
        self.env = env
        self.logs_dir = logs_dir
        self.echo = echo
        self._count = 0

    def log_path(self, name: str) -> Path:
        self._count += 1
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        return self.logs_dir / f"{self._count:02d}-{name}.log"

    def run(self, name: str, argv: list[str]) -> Path:
        """Run `argv` to the end; its output goes to a log file, whose path is returned.

        Raises StepFailed (with the tail of the output) when it exits non-zero.
        """
        log = self.log_path(name)
        with log.open("w") as out:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            process = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
            try:
                for line in process.stdout:
                    out.write(line)
                    if self.echo:
                        sys.stderr.write(f"  [{name}] {line}")
                process.wait()
            except BaseException:
                stop_process(process)
                raise
        if process.returncode != 0:
            raise StepFailed(
                f"{name} failed: `{' '.join(argv)}` exited with code {process.returncode} "
                f"(log: {log})\n--- last lines of its output ---\n{tail(log)}"
            )
        return log


class Predictor:
    """The predictor under gunicorn on 127.0.0.1:`port`, started and stopped by the demo."""

    def __init__(self, commands: Commands, port: int, workers: int = 1, threads: int = 4):
        self.commands = commands
        self.port = port
        self.workers = workers
        self.threads = threads
        self.url = f"http://127.0.0.1:{port}"
        self.log: Path | None = None
        self._process: subprocess.Popen | None = None
        self._log_file = None

    def start(self) -> None:
        self.log = self.commands.log_path("predictor")
        self._log_file = self.log.open("w")
        argv = [
            "taxifare-predictor",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", str(self.workers),
            "--threads", str(self.threads),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            argv,
            env=self.commands.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _get(self, path: str) -> requests.Response | None:
        try:
            return requests.get(self.url + path, timeout=5)
        except requests.RequestException:
            return None

    def _check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            code = None if self._process is None else self._process.returncode
            raise StepFailed(
                f"the predictor exited (code {code}; log: {self.log})\n"
                f"--- last lines of its output ---\n{tail(self.log)}"
            )

    def wait_ready(self, timeout: float) -> str:
        """Wait until /readyz answers 200; returns the model version it serves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            response = self._get("/readyz")
            if response is not None and response.status_code == 200:
                return response.json()["model_version"]
            time.sleep(0.5)
        raise StepFailed(
            f"the predictor was not ready after {timeout:.0f} s (log: {self.log})\n"
            f"--- last lines of its output ---\n{tail(self.log)}"
        )

    def wait_serving(self, version: str, timeout: float, answers: int = 4) -> None:
        """Wait until /v1/models names `version` in `answers` answers in a row (every worker swapped)."""
        deadline = time.monotonic() + timeout
        in_a_row = 0
        while time.monotonic() < deadline:
            self._check_alive()
            response = self._get("/v1/models")
            live = response.json().get("live") if response is not None and response.ok else None
            in_a_row = in_a_row + 1 if live and live.get("version") == version else 0
            if in_a_row >= answers:
                return
            time.sleep(0.25)
        raise StepFailed(f"the predictor did not swap to {version} within {timeout:.0f} s (log: {self.log})")

    def stop(self) -> None:
        """Graceful stop: gunicorn lets its workers flush their buffered prediction logs."""
        if self._process is not None:
            stop_process(self._process)
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
