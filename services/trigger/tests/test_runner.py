"""The local runner on small pipelines compiled with the real KFP SDK."""

import json

import pytest
import sample_components as p
from kfp import dsl, kubernetes

from taxifare.trigger.local_runner import ParameterError, StepFailed, load_pipeline


def test_tasks_run_in_dependency_order_not_name_order(compile_pipeline, runner, tmp_path):
    @dsl.pipeline(name="ordering")
    def ordering(log_file: str):
        # Names sort as append-line, append-line-2, append-line-3; dependencies reverse that.
        last = p.append_line(text="third", log_file=log_file)
        middle = p.append_line(text="second", log_file=log_file)
        first = p.append_line(text="first", log_file=log_file)
        middle.after(first)
        last.after(middle)

    log_file = tmp_path / "order.txt"
    result = runner.run(load_pipeline(compile_pipeline(ordering)), {"log_file": str(log_file)})
    assert log_file.read_text().split() == ["first", "second", "third"]
    assert result.status == "succeeded"


def test_parameters_flow_between_steps_with_types(compile_pipeline, runner):
    @dsl.pipeline(name="adding")
    def adding(a: int = 1, b: int = 2):
        first = p.add(a=a, b=b)
        p.add(a=first.output, b=10)

    result = runner.run(load_pipeline(compile_pipeline(adding)), {"a": "5"})
    assert result.step("add").outputs == {"total": 7}
    assert result.step("add-2").outputs == {"total": 17}
    assert result.parameters == {"a": 5, "b": 2}
    assert isinstance(result.parameters["b"], int)  # the IR writes the default as 2.0


def test_artifacts_are_local_folders_passed_by_path(compile_pipeline, runner):
    @dsl.pipeline(name="artifacts")
    def artifacts(text: str = "hello"):
        written = p.write_dataset(text=text)
        p.read_dataset(data=written.outputs["data"])

    result = runner.run(load_pipeline(compile_pipeline(artifacts)), {"text": "fares"})
    assert result.step("read-dataset").outputs == {"content": "fares"}
    produced = result.run_dir / "write-dataset" / "artifacts" / "data" / "part.txt"
    assert produced.read_text() == "fares"
    assert (result.run_dir / "read-dataset" / "artifacts" / "copy").read_text() == "FARES"


def condition_pipeline():
    @dsl.pipeline(name="gate")
    def gate(value: float = 1.0, threshold: float = 0.5):
        check = p.decide(value=value, threshold=threshold)
        with dsl.If(check.output == "true"):
            p.say(message="deploying")
        with dsl.Else():
            p.say(message="keeping the live model")

    return gate


@pytest.mark.parametrize(
    ("value", "ran", "skipped"),
    [("0.9", "condition-2/say", "condition-3"), ("0.1", "condition-3/say-2", "condition-2")],
)
def test_condition_decides_which_branch_runs(compile_pipeline, runner, step_output, value, ran, *, skipped):
    result = runner.run(load_pipeline(compile_pipeline(condition_pipeline())), {"value": value})
    statuses = {s.task: s.status for s in result.steps}
    assert statuses[f"condition-branches-1/{ran}"] == "succeeded"
    assert statuses[f"condition-branches-1/{skipped}"] == "skipped"
    assert len([s for s in statuses.values() if s == "succeeded"]) == 2
    printed = [line for task, line in step_output if task.endswith(ran)]
    assert printed == ["deploying" if value == "0.9" else "keeping the live model"]


def test_nested_conditions(compile_pipeline, runner):
    @dsl.pipeline(name="nested")
    def nested(a: int = 1, b: int = 1):
        total = p.add(a=a, b=b)
        with dsl.If(total.output > 1), dsl.If(total.output < 10):
            p.say(message="between")

    pipeline = load_pipeline(compile_pipeline(nested))
    inside = runner.run(pipeline, {"a": "2", "b": "3"})
    assert {s.task: s.status for s in inside.steps}["condition-1/condition-2/say"] == "succeeded"
    outside = runner.run(pipeline, {"a": "20", "b": "3"})
    assert {s.task: s.status for s in outside.steps}["condition-1/condition-2"] == "skipped"


def test_failure_names_the_step_exit_code_and_tail_and_stops(compile_pipeline, runner, tmp_path):
    @dsl.pipeline(name="failing")
    def failing(log_file: str):
        broken = p.fail(message="no trips in the window")
        p.append_line(text="should not run", log_file=log_file).after(broken)

    log_file = tmp_path / "after.txt"
    with pytest.raises(StepFailed) as raised:
        runner.run(load_pipeline(compile_pipeline(failing)), {"log_file": str(log_file)})
    error = raised.value
    assert error.task == "fail"
    assert "exit code 3" in str(error)
    assert error.tail.splitlines()[-1] == "no trips in the window"
    assert "line 0" not in error.tail  # only the tail, not the whole output
    assert not log_file.exists()
    summary = json.loads(next((tmp_path / "runs").glob("failing-*/run.json")).read_text())
    assert summary["status"] == "failed"
    assert "fail" in summary["message"]
    log_text = (tmp_path / "runs").glob("failing-*/fail/log.txt")
    assert "line 0" in next(log_text).read_text()


def test_missing_output_parameter_is_a_failure(compile_pipeline, runner):
    @dsl.pipeline(name="forgetting")
    def forgetting():
        p.forgetful()

    with pytest.raises(StepFailed, match="did not write its output parameter 'value'"):
        runner.run(load_pipeline(compile_pipeline(forgetting)))


def test_unknown_command_is_a_clear_failure(compile_pipeline, runner):
    @dsl.container_component
    def missing_tool():
        return dsl.ContainerSpec(image="x", command=["taxifare-no-such-tool", "go"])

    @dsl.pipeline(name="missing-tool")
    def missing():
        missing_tool()

    with pytest.raises(StepFailed, match="cannot start 'taxifare-no-such-tool'"):
        runner.run(load_pipeline(compile_pipeline(missing)))


def test_concat_and_if_present_placeholders(compile_pipeline, runner):
    @dsl.pipeline(name="placeholders")
    def placeholders():
        p.options(required="r")
        p.options(required="r", optional="o")

    result = runner.run(load_pipeline(compile_pipeline(placeholders)))
    assert result.step("options").outputs == {"value": "--required=r --none"}
    assert result.step("options-2").outputs == {"value": "--required=r --optional o"}


def test_environment_reaches_steps_in_place_of_kubernetes_secrets(compile_pipeline, tmp_path):
    @dsl.pipeline(name="secrets")
    def secrets():
        task = p.env_value(name="DATABASE_URL")
        kubernetes.use_secret_as_env(
            task, secret_name="taxifare-db", secret_key_to_env={"url": "DATABASE_URL"}
        )

    from taxifare.trigger.local_runner import HostExecutor, LocalRunner

    runner = LocalRunner(
        HostExecutor(), tmp_path / "runs", env={"DATABASE_URL": "sqlite:///x.db", "PATH": ""}
    )
    result = runner.run(load_pipeline(compile_pipeline(secrets)))
    assert result.step("env-value").outputs == {"value": "sqlite:///x.db"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"nope": "1"}, "unknown pipeline parameter(s) nope; known: a, b"),
        ({"a": "one"}, "parameter 'a': 'one' is not a valid NUMBER_INTEGER"),
    ],
)
def test_bad_parameters_are_refused_before_anything_runs(compile_pipeline, runner, tmp_path, given, message):
    @dsl.pipeline(name="adding")
    def adding(a: int = 1, b: int = 2):
        p.add(a=a, b=b)

    with pytest.raises(ParameterError) as raised:
        runner.run(load_pipeline(compile_pipeline(adding)), given)
    assert str(raised.value) == message
    assert not (tmp_path / "runs").exists()


def test_missing_required_parameter(compile_pipeline, runner):
    @dsl.pipeline(name="needs-file")
    def needs(log_file: str):
        p.append_line(text="x", log_file=log_file)

    with pytest.raises(ParameterError, match=r"missing required pipeline parameter.*log_file"):
        runner.run(load_pipeline(compile_pipeline(needs)))


def test_run_placeholders_passed_as_arguments_get_the_run_values(compile_pipeline, runner):
    @dsl.pipeline(name="run-id")
    def run_id():
        first = p.options(required=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
        second = p.options(
            required=dsl.PIPELINE_JOB_ID_PLACEHOLDER, optional=dsl.PIPELINE_TASK_NAME_PLACEHOLDER
        )
        second.after(first)

    result = runner.run(load_pipeline(compile_pipeline(run_id)))
    first = result.step("options").outputs["value"].split()[0]
    second = result.step("options-2").outputs["value"].split()
    assert "{{" not in first
    assert second[0] == first  # one id for the whole run, the same for every step
    assert second[2] == "options-2"
