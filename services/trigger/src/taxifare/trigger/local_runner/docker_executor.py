"""Running each step in its own image with `docker run`, as KFP would run it on a cluster.

The run folder is mounted at the same path inside the step's container, so every resolved argument
(parameter output files, artifact paths) stays valid. When the runner itself runs in a container
that talks to the Docker engine through its socket, host paths mean nothing to the engine: the run
folder then lives in a named volume mounted at the same path in the runner and in every step; list it
in `TAXIFARE_DOCKER_VOLUMES` and the executor mounts it instead of binding the run folder.

Settings, from the environment (`DockerSettings.from_env`):

| variable | meaning |
|---|---|
| `TAXIFARE_DOCKER_VOLUMES` | mounts for every step, comma-separated `SOURCE:TARGET[:ro]` (a named volume or host path) |
| `TAXIFARE_DOCKER_NETWORK` | network the steps join (e.g. the compose network, to reach its Postgres) |
| `TAXIFARE_DOCKER_ENV` | more variable names passed on to every step, comma-separated |
| `TAXIFARE_DOCKER_USER` | `--user` of the steps (default: this process's uid:gid, so their files stay ours) |
| `TAXIFARE_DOCKER_SOCKET_IMAGES` | image names (e.g. `taxifare-trigger`) whose steps start steps of their own: they get the Docker socket |
| `TAXIFARE_DOCKER_GROUP` | extra groups of the steps, comma-separated (e.g. the Docker socket's) |
| `TAXIFARE_DOCKER_REGISTRY`, `TAXIFARE_DOCKER_TAG` | run `<registry>/<name>:<tag>` instead of the compiled image reference |
"""

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from taxifare.core.config import ConfigError
from taxifare.trigger.local_runner.executors import OutputSink, StepInvocation, StepOutcome, stream_output

# `docker run`'s own exit code when it cannot create or start the container.
DOCKER_RUN_FAILED = 125
# The engine's socket on its host; mounted into the steps that start steps of their own.
DOCKER_SOCKET = "/var/run/docker.sock"
STOP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False

    @classmethod
    def parse(cls, text: str) -> "Mount":
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]) or parts[2:] not in ([], ["ro"], ["rw"]):
            raise ConfigError(f"TAXIFARE_DOCKER_VOLUMES: expected SOURCE:TARGET[:ro], got {text!r}")
        if not parts[1].startswith("/"):
            raise ConfigError(f"TAXIFARE_DOCKER_VOLUMES: the target of {text!r} must be an absolute path")
        return cls(parts[0], parts[1], parts[2:] == ["ro"])

    def holds(self, path: str) -> bool:
        return PurePosixPath(path).is_relative_to(self.target)

    def option(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


@dataclass(frozen=True)
class DockerSettings:
    volumes: list[Mount] = field(default_factory=list)
    network: str | None = None
    pass_env: list[str] = field(default_factory=list)
    user: str | None = None
    groups: list[str] = field(default_factory=list)
    socket_images: list[str] = field(default_factory=list)
    registry: str | None = None
    tag: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "DockerSettings":
        def listed(name: str) -> list[str]:
            return [item.strip() for item in env.get(name, "").split(",") if item.strip()]

        return cls(
            volumes=[Mount.parse(v) for v in listed("TAXIFARE_DOCKER_VOLUMES")],
            network=env.get("TAXIFARE_DOCKER_NETWORK") or None,
            pass_env=listed("TAXIFARE_DOCKER_ENV"),
            user=env.get("TAXIFARE_DOCKER_USER") or f"{os.getuid()}:{os.getgid()}",
            groups=listed("TAXIFARE_DOCKER_GROUP"),
            socket_images=listed("TAXIFARE_DOCKER_SOCKET_IMAGES"),
            registry=env.get("TAXIFARE_DOCKER_REGISTRY") or None,
            tag=env.get("TAXIFARE_DOCKER_TAG") or None,
        )


def override_image(image: str, registry: str | None, tag: str | None) -> str:
    """`registry/name:tag` with the registry and/or tag replaced; the image's name is kept."""
    if not registry and not tag:
        return image
    path, _, digest = image.partition("@")
    head, slash, last = path.rpartition("/")
    name, colon, old_tag = last.partition(":")
    new_tag = tag or (old_tag if colon else "")
    prefix = registry.rstrip("/") + "/" if registry else head + slash
    return f"{prefix}{name}" + (f":{new_tag}" if new_tag else f"@{digest}" if digest else "")


def image_name(image: str) -> str:
    """`taxifare-trigger` of `127.0.0.1:5000/taxifare/taxifare-trigger:abc`."""
    return image.partition("@")[0].rpartition("/")[2].partition(":")[0]


def build_hint(image: str) -> str:
    name = image_name(image)
    if name.startswith("taxifare-"):
        return f"build it with `make build-{name.removeprefix('taxifare-')}`"
    return "build or pull it first"


class DockerExecutor:
    """Runs each step with `docker run --rm` in the step's image: its command, args and declared env.

    Variables go in as `--env NAME` without values: docker reads them from its own environment, so no
    secret appears in the process list.
    """

    name = "docker"

    def __init__(
        self,
        settings: DockerSettings | None = None,
        docker: str = "docker",
        stop_timeout: int = STOP_TIMEOUT_SECONDS,
    ):
        self.settings = settings or DockerSettings()
        self.docker = docker
        self.stop_timeout = stop_timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DockerExecutor":
        """The executor configured by `TAXIFARE_DOCKER_*`, after checking the Docker engine answers."""
        env = os.environ if env is None else env
        docker = shutil.which("docker", path=env.get("PATH"))
        if docker is None:
            raise ConfigError("the docker executor needs the `docker` command, which is not on PATH")
        check = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            env=dict(env),
            check=False,
        )
        if check.returncode != 0:
            raise ConfigError(f"the docker executor cannot reach the Docker engine: {check.stderr.strip()}")
        return cls(DockerSettings.from_env(env), docker)

    def image(self, invocation: StepInvocation) -> str:
        return override_image(invocation.image, self.settings.registry, self.settings.tag)

    def command_line(self, invocation: StepInvocation, container_name: str) -> list[str]:
        """The `docker run` argv for the step: names of variables, never their values."""
        s = self.settings
        # --init: the step is not PID 1, so `docker stop`'s SIGTERM stops it as it would on the host.
        argv = [self.docker, "run", "--rm", "--init", "--name", container_name]
        if s.user:
            argv += ["--user", s.user]
        for group in s.groups:
            argv += ["--group-add", group]
        if s.network:
            argv += ["--network", s.network]
        for mount in s.volumes:
            argv += ["--volume", mount.option()]
        if image_name(invocation.image) in s.socket_images:
            # Only these steps may drive the engine (which is root on its host), not every step.
            argv += ["--volume", f"{DOCKER_SOCKET}:{DOCKER_SOCKET}"]
        for folder in map(str, invocation.volumes):
            if not any(mount.holds(folder) for mount in s.volumes):
                argv += ["--volume", f"{folder}:{folder}"]
        for name in dict.fromkeys([*invocation.declared_env, *s.pass_env]):
            if name in invocation.env:
                argv += ["--env", name]
        # KFP semantics: the component's command replaces the image's entrypoint, its args the CMD.
        if invocation.command:
            argv += ["--entrypoint", invocation.command[0], self.image(invocation), *invocation.command[1:]]
        else:
            argv.append(self.image(invocation))
        return [*argv, *invocation.args]

    def run(self, invocation: StepInvocation, sink: OutputSink) -> StepOutcome:
        image = self.image(invocation)
        missing = self._missing_image(image, invocation)
        if missing:
            invocation.log_path.write_text(missing + "\n")
            return StepOutcome(exit_code=DOCKER_RUN_FAILED, tail=missing)
        container = f"taxifare-{re.sub(r'[^a-zA-Z0-9_.-]', '-', invocation.task)}-{uuid.uuid4().hex[:8]}"
        process = subprocess.Popen(
            self.command_line(invocation, container),
            env=dict(invocation.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
        )
        return stream_output(process, invocation, sink, stop=lambda: self._stop(container, invocation))

    def _missing_image(self, image: str, invocation: StepInvocation) -> str | None:
        """Why the step cannot run, when its image is neither local nor pullable from a named registry."""
        found = subprocess.run(
            [self.docker, "image", "inspect", "--format", "{{.Id}}", image],
            capture_output=True,
            env=dict(invocation.env),
            check=False,
        )
        if found.returncode == 0 or _names_registry_host(image):
            return None  # `docker run` pulls an image of a named registry itself
        return (
            f"image {image!r} of step {invocation.task!r} is not on this Docker engine: {build_hint(image)}"
        )

    def _stop(self, container: str, invocation: StepInvocation) -> None:
        # The `docker run` client passes SIGTERM on, but a step that ignores it would outlive the
        # client once that is killed: `docker stop` kills the container itself after the timeout.
        subprocess.run(
            [self.docker, "stop", "--time", str(self.stop_timeout), container],
            capture_output=True,
            env=dict(invocation.env),
            check=False,
        )


def _names_registry_host(image: str) -> bool:
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")
