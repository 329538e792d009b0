"""Every component spec loads with the pinned KFP SDK, is documented, and matches its service's CLI."""

import importlib
from pathlib import Path

import pytest
import yaml
from kfp import components

SERVICES = Path(__file__).resolve().parents[2] / "services"
SPECS = sorted(SERVICES.glob("*/component*.yaml"))
# service folder -> the module whose build_parser() is its console script's parser
CLI_MODULES = {
    "trainer": "taxifare.trainer.cli",
    "metrics-writer": "taxifare.metrics_writer.cli",
    "deployer": "taxifare.deployer.cli",
    "drift-checker": "taxifare.drift_checker.cli",
    "trigger": "taxifare.trigger.cli",
    "traffic-gen": "taxifare.traffic_gen.cli",
}
SAMPLE_VALUES = {"Integer": "3", "Float": "0.5", "String": "x", "Boolean": "true"}


def spec_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_every_step_has_a_spec():
    names = {yaml.safe_load(p.read_text())["name"] for p in SPECS}
    assert names >= {
        "train", "evaluate", "write-metrics", "check-deploy", "deploy",
        "is-retraining-needed", "trigger-model-training", "send-traffic",
    }  # fmt: skip


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_spec_loads_and_is_documented(path):
    component = components.load_component_from_file(str(path))
    assert component.name
    spec = yaml.safe_load(path.read_text())
    service = path.parent.name
    container = spec["implementation"]["container"]
    assert container["image"].rsplit(":", 1)[0].endswith(f"/taxifare-{service}")
    assert container["image"].rsplit(":", 1)[1] not in ("", "latest")
    assert container["command"][0] == f"taxifare-{service}"
    assert spec.get("description")
    for entry in [*spec.get("inputs", []), *spec.get("outputs", [])]:
        assert entry.get("type"), f"{entry['name']} has no type"
        assert entry.get("description"), f"{entry['name']} has no description"


def sample_argv(spec: dict, tmp_path: Path) -> list[str]:
    """The container's command line with every placeholder given a plausible value."""
    types = {e["name"]: e["type"] for e in [*spec.get("inputs", []), *spec.get("outputs", [])]}
    defaults = {e["name"]: e["default"] for e in spec.get("inputs", []) if "default" in e}
    argv = []
    container = spec["implementation"]["container"]
    for arg in [*container["command"][1:], *container.get("args", [])]:
        if isinstance(arg, str):
            argv.append(arg)
        elif "inputValue" in arg:
            name = arg["inputValue"]
            argv.append(defaults.get(name) or SAMPLE_VALUES.get(types[name], "x"))
        else:
            argv.append(str(tmp_path / next(iter(arg.values()))))
    return argv


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_spec_flags_are_accepted_by_the_service_cli(path, tmp_path):
    """Parsing the spec's command line with the service's own parser catches a renamed flag."""
    module_name = CLI_MODULES[path.parent.name]
    try:
        cli = importlib.import_module(module_name)
    except ImportError:
        pytest.skip(f"{module_name} is not installed; spec not checked against its CLI")
    spec = yaml.safe_load(path.read_text())
    cli.build_parser().parse_args(sample_argv(spec, tmp_path))
