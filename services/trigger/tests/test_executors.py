"""The Executor seam: what another executor (e.g. `docker run` in the step's image) is handed."""

from pathlib import Path

import sample_components as p
from kfp import dsl, kubernetes

from taxifare.trigger.local_runner import HostExecutor, LocalRunner, load_pipeline


class RecordingExecutor:
    """An executor that runs steps on the host and keeps what it was asked to run."""

    name = "recording"

    def __init__(self):
        self.host = HostExecutor()
        self.invocations = []

    def run(self, invocation, sink):
        self.invocations.append(invocation)
        return self.host.run(invocation, sink)


def test_an_executor_gets_the_image_resolved_argv_and_what_to_mount(compile_pipeline, tmp_path):
    @dsl.pipeline(name="seam")
    def seam(text: str = "hi"):
        written = p.write_dataset(text=text)
        read = p.read_dataset(data=written.outputs["data"])
        kubernetes.use_secret_as_env(
            read, secret_name="taxifare-db", secret_key_to_env={"url": "DATABASE_URL"}
        )

    executor = RecordingExecutor()
    runner = LocalRunner(executor, tmp_path / "runs", env={"PATH": "", "DATABASE_URL": "sqlite://"})
    result = runner.run(load_pipeline(compile_pipeline(seam)))

    write, read = executor.invocations
    assert write.image == read.image == p.IMAGE
    assert read.volumes == [result.run_dir]
    assert read.declared_env == ["DATABASE_URL"]
    assert write.declared_env == []
    # Every path a step gets lies under the run directory, so mounting it at the same path inside a
    # container keeps the resolved arguments valid.
    paths = [arg for inv in (write, read) for arg in inv.args if arg.startswith("/")]
    assert len(paths) == 4
    assert all(Path(arg).is_relative_to(result.run_dir) for arg in paths)
    assert result.record_id is None  # no recorder given: nothing written to a database
