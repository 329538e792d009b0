"""Each service has its own CI workflow, filtered on its own paths, that tests it and builds its image."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/Dockerfile"))


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def commands(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])


@pytest.mark.parametrize("service", SERVICES)
def test_service_workflow(service):
    workflow = load(service)
    for event in ("push", "pull_request"):
        paths = workflow["on"][event]["paths"]
        assert {f"services/{service}/**", "libs/core/**"} <= set(paths), event
        assert not any(p.startswith("services/") and service not in p for p in paths), paths
    run = commands(workflow)
    assert f"make test-{service}" in run
    assert f"make build-{service}" in run


def test_pipelines_and_k8s_workflows():
    assert "make compile" in commands(load("pipelines"))
    assert "k8s/validate.sh" in commands(load("k8s"))
