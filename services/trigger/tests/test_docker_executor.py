"""The docker executor: the `docker run` command line it builds, and real runs of a compiled pipeline
whose steps run in a small image built here."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from kfp import dsl, kubernetes

from taxifare.core.config import ConfigError
from taxifare.trigger import cli
from taxifare.trigger.local_runner import (
    DockerExecutor,
    DockerSettings,
    LocalRunner,
    PipelineError,
    StepFailed,
    StepInvocation,
    create_executor,
    load_pipeline,
)
from taxifare.trigger.local_runner.docker_executor import Mount, override_image

SECRET_URL = "postgresql://taxifare:s3cret-pw@db:5432/taxifare"


def invocation(tmp_path: Path, **overrides) -> StepInvocation:
    run_dir = tmp_path / "runs" / "p-1"
    values = {
        "task": "condition-1/deploy",
        "image": "taxifare/taxifare-deployer:dev",
        "command": ["taxifare-deployer", "deploy"],
        "args": ["--output", str(run_dir / "deploy" / "outputs" / "done")],
        "env": {"PATH": "/usr/bin", "DATABASE_URL": SECRET_URL, "OTHER_TOKEN": "t0ken", "DATA_URI": "/d"},
        "log_path": run_dir / "deploy" / "log.txt",
        "volumes": [run_dir],
        "declared_env": ["DATABASE_URL", "DATA_URI", "MODEL_STORE_URI"],
    }
    return StepInvocation(**{**values, **overrides})


def test_command_line_runs_the_step_in_its_image_with_the_run_folder_at_the_same_path(tmp_path):
    step = invocation(tmp_path)
    executor = DockerExecutor(DockerSettings(network="taxifare", user="10001:10001", groups=["998"]))
    argv = executor.command_line(step, "taxifare-deploy-1")

    run_dir = str(step.volumes[0])
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--name") : argv.index("--name") + 2] == ["--name", "taxifare-deploy-1"]
    assert argv[argv.index("--user") + 1] == "10001:10001"
    assert argv[argv.index("--group-add") + 1] == "998"
    assert argv[argv.index("--network") + 1] == "taxifare"
    assert argv[argv.index("--volume") + 1] == f"{run_dir}:{run_dir}"
    # The component's command replaces the entrypoint; its args follow the image.
    image_at = argv.index("taxifare/taxifare-deployer:dev")
    assert argv[image_at - 2 : image_at] == ["--entrypoint", "taxifare-deployer"]
    assert argv[image_at + 1 :] == ["deploy", *step.args]


def test_command_line_names_the_declared_variables_but_holds_no_value(tmp_path):
    step = invocation(tmp_path)
    argv = DockerExecutor(DockerSettings(pass_env=["LOG_LEVEL", "DATA_URI"])).command_line(step, "c")

    passed = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
    # Declared and set: passed by name. Declared but unset (MODEL_STORE_URI), or set but neither
    # declared nor listed (OTHER_TOKEN, PATH): not passed. Listed twice (DATA_URI): once.
    assert passed == ["DATABASE_URL", "DATA_URI"]
    joined = " ".join(argv)
    assert "s3cret" not in joined
    assert "t0ken" not in joined


def test_a_configured_volume_holding_the_run_folder_replaces_the_bind_mount(tmp_path):
    # The runner in a container: its run folder lives in a named volume at the same path in every step.
    step = invocation(tmp_path)
    runs_volume = Mount("taxifare-runs", str(tmp_path / "runs"))
    models = Mount("taxifare-models", "/var/lib/taxifare/models", read_only=True)
    argv = DockerExecutor(DockerSettings(volumes=[runs_volume, models])).command_line(step, "c")

    mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "--volume"]
    assert mounts == [f"taxifare-runs:{tmp_path / 'runs'}", "taxifare-models:/var/lib/taxifare/models:ro"]


def test_only_the_listed_images_get_the_docker_socket(tmp_path):
    settings = DockerSettings(socket_images=["taxifare-trigger"])
    trigger = invocation(tmp_path, image="127.0.0.1:5000/taxifare/taxifare-trigger:abc")
    deployer = invocation(tmp_path)

    def mounts(step):
        argv = DockerExecutor(settings).command_line(step, "c")
        return [argv[i + 1] for i, a in enumerate(argv) if a == "--volume"]

    assert "/var/run/docker.sock:/var/run/docker.sock" in mounts(trigger)
    assert not any("docker.sock" in m for m in mounts(deployer))


def test_settings_come_from_the_environment():
    settings = DockerSettings.from_env(
        {
            "TAXIFARE_DOCKER_VOLUMES": "taxifare-runs:/var/lib/taxifare/runs, /srv/data:/data:ro",
            "TAXIFARE_DOCKER_NETWORK": "taxifare",
            "TAXIFARE_DOCKER_ENV": "LOG_LEVEL,TAXIFARE_EXECUTOR",
            "TAXIFARE_DOCKER_GROUP": "998",
            "TAXIFARE_DOCKER_SOCKET_IMAGES": "taxifare-trigger",
            "TAXIFARE_DOCKER_REGISTRY": "127.0.0.1:5000/taxifare",
            "TAXIFARE_DOCKER_TAG": "abc123",
        }
    )
    assert settings.volumes == [
        Mount("taxifare-runs", "/var/lib/taxifare/runs"),
        Mount("/srv/data", "/data", read_only=True),
    ]
    assert (settings.network, settings.groups) == ("taxifare", ["998"])
    assert settings.socket_images == ["taxifare-trigger"]
    assert settings.pass_env == ["LOG_LEVEL", "TAXIFARE_EXECUTOR"]
    # Files the steps write into the run folder belong to whoever runs the runner.
    assert settings.user == f"{os.getuid()}:{os.getgid()}"
    assert DockerSettings.from_env({"TAXIFARE_DOCKER_USER": "10001:10001"}).user == "10001:10001"
    assert (settings.registry, settings.tag) == ("127.0.0.1:5000/taxifare", "abc123")


@pytest.mark.parametrize("spec", ["runs", "taxifare-runs:relative/path", ":/abs", "a:/b:rx", "a:/b:ro:extra"])
def test_a_malformed_volume_is_refused_naming_the_variable(spec):
    with pytest.raises(ConfigError, match="TAXIFARE_DOCKER_VOLUMES") as error:
        DockerSettings.from_env({"TAXIFARE_DOCKER_VOLUMES": spec})
    assert repr(spec) in str(error.value)


@pytest.mark.parametrize(
    ("image", "registry", "tag", "expected"),
    [
        ("taxifare/taxifare-trainer:dev", None, None, "taxifare/taxifare-trainer:dev"),
        (
            "taxifare/taxifare-trainer:dev",
            "127.0.0.1:5000/taxifare",
            None,
            "127.0.0.1:5000/taxifare/taxifare-trainer:dev",
        ),
        ("taxifare/taxifare-trainer:dev", None, "abc123", "taxifare/taxifare-trainer:abc123"),
        ("127.0.0.1:5000/x/taxifare-trainer:v1", "taxifare/", "v2", "taxifare/taxifare-trainer:v2"),
        ("python:3.11-slim", "mirror", None, "mirror/python:3.11-slim"),
    ],
)
def test_an_image_override_keeps_the_image_name(image, registry, tag, expected):
    assert override_image(image, registry, tag) == expected


def test_the_docker_executor_needs_the_docker_command(tmp_path):
    with pytest.raises(ConfigError, match="`docker` command, which is not on PATH"):
        create_executor("docker", env={"PATH": str(tmp_path)})


def test_an_unknown_executor_in_the_environment_is_refused_by_name():
    with pytest.raises(PipelineError, match="TAXIFARE_EXECUTOR='podman': no such executor"):
        create_executor(env={"TAXIFARE_EXECUTOR": "podman"})
    assert create_executor(env={}).name == "host"


def test_run_local_without_docker_fails_with_a_message(
    settings_env, compile_pipeline, tmp_path, monkeypatch, capsys
):
    package = compile_pipeline(docker_failing)
    monkeypatch.setenv("PATH", str(tmp_path))
    code = cli.main(["run-local", str(package), "--executor", "docker", "--no-record"])
    err = capsys.readouterr().err
    assert code == 1
    assert "taxifare-trigger: the docker executor needs the `docker` command" in err
    assert "Traceback" not in err
    assert not settings_env.runs_dir.exists()  # refused before any run started


def test_executor_is_refused_with_the_kfp_backend(settings_env, capsys):
    code = cli.main(["run", "taxi-fare-predictor", "--backend", "kfp", "--executor", "docker"])
    assert code == 1
    assert "--executor only applies with --backend local" in capsys.readouterr().err


# --- real runs: a small image built here, a pipeline compiled with the KFP SDK ---------------------


def _docker_works() -> bool:
    try:
        return (
            subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


# Marked `docker` (run where TAXIFARE_DOCKER_TESTS=1, e.g. `make test-docker`), and skipped, saying why,
# where no engine answers.
needs_docker = pytest.mark.skipif(not _docker_works(), reason="`docker info` fails: no Docker engine here")

STEP_SCRIPT = """\
import os, sys
command, *args = sys.argv[1:]
if command == "produce":  # text -> its length (a parameter) and a folder artifact holding it
    text, size_file, data_dir = args
    os.makedirs(data_dir)
    open(os.path.join(data_dir, "text.txt"), "w").write(text)
    open(size_file, "w").write(str(len(text)))
    print(f"produced {len(text)} characters as uid {os.getuid()}")
elif command == "consume":  # the artifact and the parameter -> a verdict; what env reached us
    data_dir, size, verdict_file, env_file = args
    text = open(os.path.join(data_dir, "text.txt")).read()
    assert len(text) == int(size), (text, size)
    open(verdict_file, "w").write("long" if len(text) > 10 else "short")
    seen = {n: os.environ.get(n, "<unset>") for n in ("DATABASE_URL", "OTHER_TOKEN")}
    open(env_file, "w").write(repr(seen))
elif command == "announce":
    print("announcing:", args[0])
elif command == "linger":  # a step that ignores SIGTERM
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("lingering", flush=True); time.sleep(120)
elif command == "fail":
    print("about to fail"); sys.exit(4)
"""

# The compiled reference; the runs swap in the registry and tag of the image built here, as compose
# does with the images `make build` made.
COMPILED_IMAGE = "registry.invalid/taxifare/taxifare-steptest:compiled"


def step(*args) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image=COMPILED_IMAGE, command=["python", "/app/step.py"], args=list(args))


@dsl.container_component
def produce(text: str, size: dsl.OutputPath(int), data: dsl.Output[dsl.Dataset]):
    return step("produce", text, size, data.path)


@dsl.container_component
def consume(data: dsl.Input[dsl.Dataset], size: int, verdict: dsl.OutputPath(str), env: dsl.OutputPath(str)):
    return step("consume", data.path, size, verdict, env)


@dsl.container_component
def announce(message: str):
    return step("announce", message)


@dsl.container_component
def fail():
    return step("fail")


@dsl.pipeline(name="docker-steps")
def docker_steps(text: str = "a long enough text"):
    produced = produce(text=text)
    consumed = consume(data=produced.outputs["data"], size=produced.outputs["size"])
    kubernetes.use_secret_as_env(consumed, secret_name="db", secret_key_to_env={"url": "DATABASE_URL"})
    with dsl.If(consumed.outputs["verdict"] == "long"):
        announce(message=consumed.outputs["verdict"])


@dsl.container_component
def linger():
    return step("linger")


@dsl.pipeline(name="docker-lingering")
def docker_lingering():
    linger()


@dsl.pipeline(name="docker-failing")
def docker_failing():
    fail()


@pytest.fixture(scope="module")
def step_image(tmp_path_factory):
    """A tiny image: python:3.11-slim, the script above, and a non-root USER the runs must override."""
    context = tmp_path_factory.mktemp("image")
    (context / "step.py").write_text(STEP_SCRIPT)
    (context / "Dockerfile").write_text(
        'FROM python:3.11-slim\nCOPY step.py /app/step.py\nUSER 10001:10001\nENTRYPOINT ["python"]\n'
    )
    tag = uuid.uuid4().hex[:12]
    image = f"taxifare-test/taxifare-steptest:{tag}"
    subprocess.run(["docker", "build", "-q", "-t", image, str(context)], check=True, capture_output=True)
    yield image
    subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)


def docker_runner(tmp_path, image: str, output: list) -> LocalRunner:
    registry, _, tag = image.rpartition(":")
    settings = DockerSettings(
        user=f"{os.getuid()}:{os.getgid()}", registry=registry.rpartition("/")[0], tag=tag
    )
    executor = DockerExecutor(settings, stop_timeout=1)
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": SECRET_URL, "OTHER_TOKEN": "t0ken"}
    return LocalRunner(
        executor, tmp_path / "runs", env=env, sink=lambda task, line: output.append((task, line))
    )


@pytest.mark.docker
@pytest.mark.slow
@needs_docker
def test_steps_in_their_image_pass_a_parameter_and_an_artifact_and_honour_the_condition(
    step_image, compile_pipeline, tmp_path
):
    package = load_pipeline(compile_pipeline(docker_steps))
    output: list = []
    runner = docker_runner(tmp_path, step_image, output)

    long_run = runner.run(package)
    assert long_run.status == "succeeded"
    assert long_run.step("produce").outputs == {"size": len("a long enough text")}
    assert long_run.step("consume").outputs["verdict"] == "long"
    assert long_run.step("condition-1/announce").status == "succeeded"
    assert ("condition-1/announce", "announcing: long") in output
    # The step ran as this process's user (not the image's 10001), so what it wrote is ours.
    artifact = long_run.run_dir / "produce" / "artifacts" / "data" / "text.txt"
    assert artifact.read_text() == "a long enough text"
    assert artifact.stat().st_uid == os.getuid()
    assert ("produce", f"produced 18 characters as uid {os.getuid()}") in output
    # The declared secret reached the container; an undeclared variable did not.
    seen = long_run.step("consume").outputs["env"]
    assert seen == repr({"DATABASE_URL": SECRET_URL, "OTHER_TOKEN": "<unset>"})
    assert "produced 18 characters" in (long_run.run_dir / "produce" / "log.txt").read_text()

    short_run = runner.run(package, {"text": "short"})
    assert short_run.step("consume").outputs["verdict"] == "short"
    assert short_run.step("condition-1").status == "skipped"
    assert not (short_run.run_dir / "condition-1").exists()


@pytest.mark.docker
@pytest.mark.slow
@needs_docker
def test_a_failing_step_in_its_image_stops_the_run_with_its_exit_code_and_output(
    step_image, compile_pipeline, tmp_path
):
    runner = docker_runner(tmp_path, step_image, [])
    with pytest.raises(StepFailed, match="step 'fail' failed: exit code 4") as error:
        runner.run(load_pipeline(compile_pipeline(docker_failing)))
    assert "about to fail" in error.value.tail


@pytest.mark.docker
@needs_docker
def test_an_image_that_is_not_built_is_named_with_how_to_build_it(compile_pipeline, tmp_path):
    executor = DockerExecutor(DockerSettings(registry="taxifare", tag=f"absent-{uuid.uuid4().hex[:8]}"))
    runner = LocalRunner(executor, tmp_path / "runs", env={"PATH": os.environ["PATH"]})
    with pytest.raises(StepFailed) as error:
        runner.run(load_pipeline(compile_pipeline(docker_failing)))
    assert "is not on this Docker engine: build it with `make build-steptest`" in str(error.value)


@pytest.mark.docker
@needs_docker
def test_the_docker_executor_checks_the_engine_answers():
    assert create_executor("docker").name == "docker"


@needs_docker
@pytest.mark.docker
@pytest.mark.slow
def test_an_interrupted_run_stops_the_container_of_the_running_step(step_image, compile_pipeline, tmp_path):
    # The step ignores SIGTERM: the container is stopped (killed after the stop timeout), not left behind.
    def interrupt_when_running(task, line):
        if line == "lingering":
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM arrive while a step runs

    runner = docker_runner(tmp_path, step_image, [])
    runner.sink = interrupt_when_running
    with pytest.raises(KeyboardInterrupt):
        runner.run(load_pipeline(compile_pipeline(docker_lingering)))
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "name=taxifare-linger-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout.strip() == ""
