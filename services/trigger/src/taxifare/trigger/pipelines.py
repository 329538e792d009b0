"""Which compiled file a pipeline name means.

The compiled IR YAML lives in the repository's `pipelines/compiled/`; `TAXIFARE_PIPELINES_DIR`
points elsewhere (an image that copies them, a user's own pipelines).
"""

import os
from collections.abc import Mapping
from pathlib import Path

PIPELINE_FILES = {
    "taxi-fare-predictor": "taxi_fare_predictor.yaml",
    "retraining-checker": "retraining_checker.yaml",
}


class UnknownPipeline(ValueError):
    """The name is not a taxifare pipeline, or its compiled file is missing."""


def pipelines_dir(env: Mapping[str, str] | None = None) -> Path:
    """`TAXIFARE_PIPELINES_DIR`, else the first `pipelines/compiled` above this package or the cwd."""
    env = os.environ if env is None else env
    if env.get("TAXIFARE_PIPELINES_DIR"):
        return Path(env["TAXIFARE_PIPELINES_DIR"])
    for start in (Path(__file__).resolve().parent, Path.cwd()):
        for folder in (start, *start.parents):
            candidate = folder / "pipelines" / "compiled"
            if candidate.is_dir():
                return candidate
    return Path.cwd() / "pipelines" / "compiled"


def compiled_package(pipeline: str, env: Mapping[str, str] | None = None) -> Path:
    """The compiled YAML of `pipeline`; a clear error naming the known pipelines otherwise."""
    if pipeline not in PIPELINE_FILES:
        known = ", ".join(sorted(PIPELINE_FILES))
        raise UnknownPipeline(f"unknown pipeline {pipeline!r} (known: {known}; or give --package PATH)")
    path = pipelines_dir(env) / PIPELINE_FILES[pipeline]
    if not path.is_file():
        raise UnknownPipeline(
            f"compiled pipeline {pipeline!r} not found at {path} (run `make compile`, or set "
            "TAXIFARE_PIPELINES_DIR, or give --package PATH)"
        )
    return path
