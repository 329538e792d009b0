import sys
from pathlib import Path

import pytest
from kfp import compiler

from taxifare.trigger.local_runner import HostExecutor, LocalRunner

# --import-mode=importlib keeps the tests folder off sys.path; the tests share sample_components.py.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def compile_pipeline(tmp_path):
    """Compile a @dsl.pipeline function with the real KFP SDK; returns the YAML path."""

    def compile_(pipeline_func) -> Path:
        path = tmp_path / f"{pipeline_func.name}.yaml"
        compiler.Compiler().compile(pipeline_func, str(path))
        return path

    return compile_


@pytest.fixture
def step_output():
    """Lines the steps printed, as (task, line) pairs."""
    return []


@pytest.fixture
def runner(tmp_path, step_output):
    return LocalRunner(
        HostExecutor([Path(sys.executable).parent]),
        tmp_path / "runs",
        sink=lambda task, line: step_output.append((task, line)),
    )
