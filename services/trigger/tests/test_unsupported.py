"""Features the runner cannot execute are refused by name before any step runs."""

import pytest
import sample_components as p
from kfp import dsl

from taxifare.trigger.local_runner import InvalidPipeline, UnsupportedFeature, load_pipeline


@dsl.component(base_image="python:3.11-slim")
def python_function(x: int) -> int:
    return x + 1


def parallel_for():
    @dsl.pipeline(name="loop")
    def loop():
        with dsl.ParallelFor([1, 2]) as item:
            p.add(a=item, b=1)

    return loop


def exit_handler():
    @dsl.pipeline(name="exit")
    def exiting():
        with dsl.ExitHandler(p.say(message="cleanup")):
            p.say(message="work")

    return exiting


def importer():
    @dsl.pipeline(name="importing")
    def importing():
        data = dsl.importer(artifact_uri="gs://bucket/data", artifact_class=dsl.Dataset)
        p.read_dataset(data=data.output)

    return importing


def lightweight_python():
    @dsl.pipeline(name="python-function")
    def functions():
        python_function(x=1)

    return functions


@pytest.mark.parametrize(
    ("make_pipeline", "named"),
    [
        (parallel_for, "ParallelFor loop (task 'for-loop-"),
        (exit_handler, "exit handler / trigger strategy ALL_UPSTREAM_TASKS_COMPLETED (task 'say')"),
        (importer, "importer (dsl.importer) (task 'importer')"),
        (lightweight_python, "placeholder {{$}}: Python function components"),
    ],
)
def test_unsupported_features_are_refused_by_name(compile_pipeline, make_pipeline, named):
    path = compile_pipeline(make_pipeline())
    with pytest.raises(UnsupportedFeature) as raised:
        load_pipeline(path)
    assert named in str(raised.value)


def test_all_problems_are_listed_at_once(compile_pipeline):
    @dsl.pipeline(name="many")
    def many():
        with dsl.ParallelFor([1, 2]) as item:
            p.add(a=item, b=1)
        dsl.importer(artifact_uri="gs://bucket/data", artifact_class=dsl.Dataset)

    with pytest.raises(UnsupportedFeature) as raised:
        load_pipeline(compile_pipeline(many))
    assert len(raised.value.problems) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("name: a v1 component\nimplementation: {}\n", "is not a compiled KFP pipeline"),
        ("root: [unclosed\n", "cannot read pipeline file"),
    ],
)
def test_files_that_are_not_pipelines(tmp_path, content, message):
    path = tmp_path / "pipeline.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidPipeline, match=message):
        load_pipeline(path)
