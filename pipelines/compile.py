"""Compile every taxifare pipeline to `pipelines/compiled/<name>.yaml`.

    python -m pipelines.compile [--registry R] [--tag T] [--out DIR]

Images are `<registry>/taxifare-<service>:<tag>`; the tag defaults to `git describe --always --dirty`
(never `latest`), so the compiled YAML names exactly the images `make build` made.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from kfp import compiler

from pipelines import retraining_checker, taxi_fare_predictor, traffic
from pipelines.components import DEFAULT_REGISTRY, Images

COMPILED_DIR = Path(__file__).resolve().parent / "compiled"
DEFAULT_KFP_HOST = "http://ml-pipeline.kubeflow:8888"


def git_tag() -> str:
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit("compile: cannot read the git commit for the image tag; give --tag") from None
    return result.stdout.strip()


def all_pipelines(images: Images, kfp_host: str = DEFAULT_KFP_HOST) -> dict:
    """Pipeline name -> pipeline function, built with these image references."""
    return {
        taxi_fare_predictor.NAME: taxi_fare_predictor.make_pipeline(images),
        retraining_checker.NAME: retraining_checker.make_pipeline(images, kfp_host),
        **traffic.make_pipelines(images),
    }


def file_name(pipeline_name: str) -> str:
    return pipeline_name.replace("-", "_") + ".yaml"


def compile_all(images: Images, out_dir: Path, kfp_host: str = DEFAULT_KFP_HOST) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in all_pipelines(images, kfp_host).items():
        path = out_dir / file_name(name)
        compiler.Compiler().compile(pipeline, str(path))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.compile", description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help=f"image registry ({DEFAULT_REGISTRY})")
    parser.add_argument("--tag", help="image tag (default: git describe --always --dirty)")
    parser.add_argument("--kfp-host", default=DEFAULT_KFP_HOST, help="KFP API the trigger step calls")
    parser.add_argument("--out", type=Path, default=COMPILED_DIR, help="output folder")
    args = parser.parse_args(argv)
    try:
        images = Images(args.registry, args.tag or git_tag())
    except ValueError as e:
        parser.error(str(e))
    for path in compile_all(images, args.out, args.kfp_host):
        print(f"wrote {path} ({images.image('<service>')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
