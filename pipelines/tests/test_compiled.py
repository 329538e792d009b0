"""The compiled pipelines: expected tasks, conditions, caching, Kubernetes references, images."""

import re
from pathlib import Path

import pytest
import yaml

from pipelines import compile as compile_module
from pipelines.components import Images

COMPILED = compile_module.COMPILED_DIR


def load(path: Path) -> tuple[dict, dict]:
    spec, *rest = yaml.safe_load_all(path.read_text())
    platform = rest[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if rest else {}
    return spec, platform


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    out = tmp_path_factory.mktemp("compiled")
    compile_module.compile_all(Images("registry.example/team", "abc1234"), out)
    return {path.stem: load(path) for path in out.glob("*.yaml")}


def images(spec: dict) -> set[str]:
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}


def test_training_pipeline_tasks_and_order(compiled):
    spec, _ = compiled["taxi_fare_predictor"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"train", "evaluate", "write-metrics", "check-deploy", "condition-1"}
    assert tasks["evaluate"]["inputs"]["artifacts"]["eval_data"]["taskOutputArtifact"] == {
        "outputArtifactKey": "eval_data",
        "producerTask": "train",
    }
    assert "evaluate" in tasks["write-metrics"]["dependentTasks"]
    assert set(tasks["check-deploy"]["dependentTasks"]) == {"train", "evaluate", "write-metrics"}
    assert tasks["write-metrics"]["inputs"]["parameters"]["pipeline_run_id"]["runtimeValue"] == {
        "constant": "{{$.pipeline_job_uuid}}"
    }
    condition = tasks["condition-1"]["triggerPolicy"]["condition"]
    assert condition == "inputs.parameter_values['pipelinechannel--check-deploy-decision'] == 'true'"
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert list(inner) == ["deploy"]
    assert inner["deploy"]["inputs"]["parameters"]["version"] == {
        "componentInputParameter": "pipelinechannel--write-metrics-version"
    }


def test_checker_pipeline_triggers_only_when_needed(compiled):
    spec, _ = compiled["retraining_checker"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"training-run-in-flight", "is-retraining-needed", "condition-1"}
    # The check weighs the trigger's answer about training runs in flight, under one staleness rule.
    assert tasks["is-retraining-needed"]["inputs"]["parameters"]["training_runs"] == {
        "taskOutputParameter": {"outputParameterKey": "state", "producerTask": "training-run-in-flight"}
    }
    assert tasks["training-run-in-flight"]["inputs"]["parameters"]["stale_after_hours"] == {
        "componentInputParameter": "stale_run_hours"
    }
    assert tasks["condition-1"]["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--is-retraining-needed-decision'] == 'true'"
    )
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert list(inner) == ["trigger-model-training"]
    # The run is recorded with the check's own reason.
    assert inner["trigger-model-training"]["inputs"]["parameters"]["reason"] == {
        "componentInputParameter": "pipelinechannel--is-retraining-needed-reason"
    }
    assert tasks["condition-1"]["inputs"]["parameters"]["pipelinechannel--is-retraining-needed-reason"] == {
        "taskOutputParameter": {"outputParameterKey": "reason", "producerTask": "is-retraining-needed"}
    }
    assert inner["trigger-model-training"]["inputs"]["parameters"]["stale_after_hours"] == {
        "componentInputParameter": "pipelinechannel--stale_run_hours"
    }
    for step in ("training-run-in-flight", "trigger-model-training"):
        env = spec["deploymentSpec"]["executors"][f"exec-{step}"]["container"]["env"]
        assert env == [{"name": "KFP_HOST", "value": compile_module.DEFAULT_KFP_HOST}]


@pytest.mark.parametrize(("name", "mode"), [("traffic_normal", "normal"), ("traffic_drift", "drift")])
def test_traffic_pipelines_send_their_mode(compiled, name, mode):
    spec, _ = compiled[name]
    (task,) = spec["root"]["dag"]["tasks"].values()
    assert task["inputs"]["parameters"]["mode"] == {"runtimeValue": {"constant": mode}}


def all_tasks(spec: dict) -> dict[str, dict]:
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    return {name: task for dag in dags for name, task in dag["tasks"].items()}


def test_no_step_is_cached(compiled):
    # A cache hit would skip training on new data or reuse a stale drift decision.
    for name, (spec, _) in compiled.items():
        for task_name, task in all_tasks(spec).items():
            if "executorLabel" in spec["components"][task["componentRef"]["name"]]:
                assert task["cachingOptions"] == {}, f"{name}/{task_name} is cached"


@pytest.mark.parametrize(
    ("name", "with_db"),
    [
        ("taxi_fare_predictor", {"evaluate", "write-metrics", "check-deploy", "deploy"}),
        ("retraining_checker", {"training-run-in-flight", "is-retraining-needed", "trigger-model-training"}),
        ("traffic_normal", set()),
    ],
)
def test_database_url_comes_from_the_secret(compiled, name, with_db):
    _, platform = compiled[name]
    found = set()
    for label, config in platform.items():
        for secret in config.get("secretAsEnv", []):
            if secret["secretName"] != "taxifare-db":
                continue
            assert secret["keyToEnv"] == [{"envVar": "DATABASE_URL", "secretKey": "database-url"}]
            found.add(label.removeprefix("exec-"))
    assert found == with_db


@pytest.mark.parametrize("name", ["traffic_normal", "traffic_drift"])
def test_traffic_steps_get_the_actuals_token_from_its_secret(compiled, name):
    _, platform = compiled[name]
    (config,) = platform.values()
    (secret,) = config["secretAsEnv"]
    assert secret["secretName"] == "taxifare-predictor-actuals" and secret["optional"] is False
    assert secret["keyToEnv"] == [{"envVar": "PREDICTOR_ACTUALS_TOKEN", "secretKey": "token"}]
    other = {secret["secretName"] for spec in ("taxi_fare_predictor", "retraining_checker")
             for config in compiled[spec][1].values() for secret in config.get("secretAsEnv", [])}  # fmt: skip
    assert other == {"taxifare-db"}  # no other step may post actual fares


def test_images_carry_the_registry_and_tag_given(compiled):
    found = set().union(*(images(spec) for spec, _ in compiled.values()))
    assert found == {
        f"registry.example/team/taxifare-{service}:abc1234"
        for service in ("trainer", "metrics-writer", "deployer", "drift-checker", "trigger", "traffic-gen")
    }


def test_latest_is_refused():
    with pytest.raises(SystemExit):
        compile_module.main(["--tag", "latest", "--out", "/nonexistent"])


def test_no_secret_value_reaches_the_compiled_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://taxifare:hunter2-secret@db:5432/taxifare")
    monkeypatch.setenv("DATABASE_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("KFP_TOKEN", "hunter2-secret")
    for path in compile_module.compile_all(Images("r", "t"), tmp_path):
        text = path.read_text()
        assert "hunter2" not in text
        assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), "a URL with a password"


def committed_images() -> Images:
    spec, _ = load(COMPILED / "taxi_fare_predictor.yaml")
    registry, _, tag = next(iter(images(spec))).rpartition(":")
    return Images(registry.rsplit("/", 1)[0], tag)


def test_committed_yaml_is_current(tmp_path):
    """The committed files are what compiling the current code gives (with their own image tag)."""
    compile_module.compile_all(committed_images(), tmp_path)
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    committed = {p.name: p.read_text() for p in COMPILED.glob("*.yaml")}
    assert sorted(committed) == sorted(fresh)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"pipelines/compiled is stale ({', '.join(stale)}): run make compile"
    for text in committed.values():
        assert "hunter2" not in text and "password" not in text.lower()
