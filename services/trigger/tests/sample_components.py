"""Small pipelines of Python one-liner container components, compiled by the tests with the real SDK.

Each command is `python -c CODE ARG...`; the host executor finds `python` beside the test interpreter.
"""

from kfp import dsl

IMAGE = "python:3.11-slim"


def python(code: str, *args) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image=IMAGE, command=["python", "-c", code], args=list(args))


@dsl.container_component
def add(a: int, b: int, total: dsl.OutputPath(int)):
    return python(
        "import sys; open(sys.argv[3], 'w').write(str(int(sys.argv[1]) + int(sys.argv[2])))", a, b, total
    )


@dsl.container_component
def append_line(text: str, log_file: str):
    return python("import sys; open(sys.argv[2], 'a').write(sys.argv[1] + '\\n')", text, log_file)


@dsl.container_component
def write_dataset(text: str, data: dsl.Output[dsl.Dataset]):
    # The step makes its artifact a folder, as the trainer does with a model.
    return python(
        "import os, sys; os.makedirs(sys.argv[2]); open(os.path.join(sys.argv[2], 'part.txt'), 'w')"
        ".write(sys.argv[1])",
        text,
        data.path,
    )


@dsl.container_component
def read_dataset(data: dsl.Input[dsl.Dataset], content: dsl.OutputPath(str), copy: dsl.Output[dsl.Dataset]):
    return python(
        "import os, sys; text = open(os.path.join(sys.argv[1], 'part.txt')).read(); "
        "open(sys.argv[2], 'w').write(text); open(sys.argv[3], 'w').write(text.upper())",
        data.path,
        content,
        copy.path,
    )


@dsl.container_component
def decide(value: float, threshold: float, decision: dsl.OutputPath(str)):
    return python(
        "import sys; open(sys.argv[3], 'w')"
        ".write('true' if float(sys.argv[1]) > float(sys.argv[2]) else 'false')",
        value,
        threshold,
        decision,
    )


@dsl.container_component
def say(message: str):
    return python("import sys; print(sys.argv[1])", message)


@dsl.container_component
def fail(message: str, code: int = 3):
    return python(
        "import sys; [print(f'line {i}') for i in range(50)]; print(sys.argv[1]); sys.exit(int(sys.argv[2]))",
        message,
        code,
    )


@dsl.container_component
def env_value(name: str, value: dsl.OutputPath(str)):
    return python(
        "import os, sys; open(sys.argv[2], 'w').write(os.environ.get(sys.argv[1], '<unset>'))", name, value
    )


# KFP reads the annotation itself and does not understand `str | None`.
@dsl.container_component
def options(required: str, value: dsl.OutputPath(str), optional: str = None):  # noqa: RUF013
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["python", "-c", "import sys; open(sys.argv[1], 'w').write(' '.join(sys.argv[2:]))"],
        args=[
            value,
            dsl.ConcatPlaceholder(["--required=", required]),
            dsl.IfPresentPlaceholder(input_name="optional", then=["--optional", optional], else_=["--none"]),
        ],
    )


@dsl.container_component
def forgetful(value: dsl.OutputPath(str)):
    return python("print('done, but wrote nothing')")
