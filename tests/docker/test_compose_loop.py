"""The images and the compose file, for real: build and push every image, check each one, then run the
whole loop under `docker compose` until drifted traffic has caused a retrain and a deploy, recorded in
the containerised Postgres.

Slow (image builds, real training in containers): it runs where TAXIFARE_DOCKER_TESTS=1 (`make
test-docker`, CI). It uses the compose file's fixed names (network `taxifare`, volumes `taxifare-*`),
so it must not run beside a user's own `docker compose up` of this project.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from taxifare.core.db.engine import connect_engine

ROOT = Path(__file__).resolve().parents[2]
SETUP_DOCKER = ROOT.parent / "shared" / "docker" / "setup-docker.sh"
REGISTRY = "127.0.0.1:5000/taxifare"
PROJECT = "taxifare-test"
BUILD_TIMEOUT = 3600
FIRST_MODEL_TIMEOUT = 20 * 60
RETRAIN_TIMEOUT = 25 * 60

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run(
    cmd: list[str], timeout: float, env: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def docker():
    if not SETUP_DOCKER.exists():
        pytest.skip(f"no {SETUP_DOCKER.name} beside the repository (../shared/docker)")
    run(["bash", str(SETUP_DOCKER)], timeout=900)
    assert shutil.which("docker")


@pytest.fixture(scope="module")
def images(docker) -> dict[str, str]:
    """service -> image reference, built and pushed by `make build push`."""
    started = time.monotonic()
    run(["make", "build", "push", f"REGISTRY={REGISTRY}"], timeout=BUILD_TIMEOUT)
    print(f"make build push: {time.monotonic() - started:.0f} s")
    listed = run(["make", "-s", "images", f"REGISTRY={REGISTRY}"], timeout=60).stdout.split()
    refs = {ref.rsplit("/", 1)[1].split(":")[0].removeprefix("taxifare-"): ref for ref in listed}
    for service, ref in refs.items():
        size = run(["docker", "image", "inspect", "-f", "{{.Size}}", ref], timeout=60).stdout.strip()
        print(f"{service}: {int(size) / 1e6:.0f} MB")
    return refs


def test_images_run_as_non_root_and_answer_help(images):
    assert set(images) >= {"trainer", "metrics-writer", "deployer", "drift-checker", "trigger", "predictor"}
    for service, ref in images.items():
        uid = run(["docker", "run", "--rm", "--entrypoint", "id", ref, "-u"], timeout=120).stdout.strip()
        assert uid != "0", f"{service} runs as root"
        result = run(["docker", "run", "--rm", ref, "--help"], timeout=300)
        assert f"taxifare-{service}" in result.stdout, result.stdout
        # Pushed: the registry lists the tag.
        repository, tag = ref.removeprefix("127.0.0.1:5000/").rsplit(":", 1)
        with urllib.request.urlopen(f"http://127.0.0.1:5000/v2/{repository}/tags/list", timeout=10) as r:
            assert tag in json.load(r)["tags"], ref


def test_images_hold_no_database_credentials(images):
    for service, ref in images.items():
        env = run(["docker", "image", "inspect", "-f", "{{json .Config.Env}}", ref], timeout=60).stdout
        assert "DATABASE_URL" not in env and "PASSWORD" not in env, (service, env)


@pytest.fixture
def compose(images, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """`docker compose` on the repository's file with a fresh .env; everything removed afterwards."""
    tag = next(iter(images.values())).rsplit(":", 1)[1]
    settings = {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "PREDICTOR_ACTUALS_TOKEN": secrets.token_hex(24),
        "POSTGRES_PORT": str(free_port()),
        "PREDICTOR_PORT": str(free_port()),
        "REGISTRY": REGISTRY,
        "TAG": tag,
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        "CHECK_EVERY_SECONDS": "20",
        "CHECK_COOLDOWN_HOURS": "0.02",
        "CHECK_MIN_PREDICTIONS": "150",
        "CHECK_MIN_ACTUALS": "50",
        # Nine minutes of the new card before a candidate learns it (about 5,000 trips beside the
        # seed's 6,000; the wait counts from the start of the 1 h window of the first check that saw
        # it), and a second chance a quarter of an hour after a rejected one.
        "CHECK_MIN_NEW_DATA_HOURS": "1.15",
        "CHECK_TRAINING_WINDOW_DAYS": "0.01",
        "TRAFFIC_RATE": "10",
        # A rate card change: the live model's fares go wrong, and a model retrained on the new trips
        # beats it. (Covariate drift alone is detected too, but a retrain rarely beats the live model
        # by the deploy margin, so the gate rightly keeps it.) A small seed lets new trips weigh.
        "DRIFT_MODE": "concept",
        "SEED_ROWS": "6000",
    }
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if k not in settings}
    base = [
        "docker",
        "compose",
        "-p",
        PROJECT,
        "--env-file",
        str(env_file),
        "-f",
        str(ROOT / "docker-compose.yml"),
    ]

    def compose_cmd(*args: str, timeout: float = 600, check: bool = True):
        return run([*base, *args], timeout=timeout, env=env, check=check)

    compose_cmd.settings = settings
    compose_cmd("config", "-q")
    yield compose_cmd
    logs = compose_cmd("--profile", "drift", "logs", "--no-color", "--tail", "80", check=False)
    print(logs.stdout[-20000:])
    compose_cmd("--profile", "drift", "down", "-v", "--remove-orphans", timeout=300, check=False)


def wait_for(what: str, timeout: float, probe: Callable[[], object], every: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except sa.exc.OperationalError:
            value = None
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_drift_triggers_a_retrain_and_a_deploy(compose):
    settings = compose.settings
    url = f"postgresql://taxifare:{settings['POSTGRES_PASSWORD']}@127.0.0.1:{settings['POSTGRES_PORT']}/taxifare"
    engine = connect_engine(url, pool_pre_ping=True)

    def scalar(sql: str, **params):
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    started = time.monotonic()
    compose("up", "-d", timeout=900)
    # Bootstrap: no live model yet, so the checker asks for one, trained on the seeded trips.
    first = wait_for(
        "a first live model",
        FIRST_MODEL_TIMEOUT,
        lambda: scalar("SELECT version FROM model_versions WHERE status = 'live'"),
    )
    print(f"first live model {first} after {time.monotonic() - started:.0f} s")

    # Only drifted traffic from now on, so the checker sees nothing else in its window.
    compose("stop", "traffic-normal")
    compose("--profile", "drift", "up", "-d", "traffic-drift")
    drift_started = time.monotonic()
    with engine.connect() as conn:
        since = conn.execute(sa.text("SELECT now() AT TIME ZONE 'utc'")).scalar()

    wait_for(
        "a drift check that decides to retrain",
        RETRAIN_TIMEOUT,
        lambda: scalar(
            "SELECT id FROM drift_checks WHERE decision AND checked_at > :since AND model_version = :v",
            since=since,
            v=first,
        ),
    )
    retrained = wait_for(
        "a new live model",
        RETRAIN_TIMEOUT,
        lambda: scalar(
            "SELECT version FROM model_versions WHERE status = 'live' AND version <> :v AND promoted_at > :since",
            v=first,
            since=since,
        ),
    )
    print(
        f"drift-triggered retrain and deploy of {retrained}: {time.monotonic() - drift_started:.0f} s after drift"
    )

    assert scalar(
        "SELECT count(*) FROM deploy_decisions WHERE decision AND candidate_version = :v AND live_version = :old",
        v=retrained,
        old=first,
    )
    assert scalar(
        "SELECT count(*) FROM pipeline_runs WHERE pipeline = 'taxi-fare-predictor' AND status = 'succeeded' "
        "AND triggered_by = 'retraining-checker' AND created_at > :since",
        since=since,
    )
    assert scalar("SELECT status FROM model_versions WHERE version = :v", v=first) == "retired"
    # The traffic generators' actual fares got in with the token (a concept shift shows in them only).
    assert scalar("SELECT count(*) FROM actuals WHERE known_at > :since", since=since) >= 50
    # The prune service ran against the partitioned tables.
    pruned = compose("logs", "--no-color", "prune").stdout
    assert "kept rows from" in pruned and "predictions: deleted 0 rows, dropped 0 day partitions" in pruned
    logs = compose("--profile", "drift", "logs", "--no-color").stdout
    assert settings["PREDICTOR_ACTUALS_TOKEN"] not in logs and settings["POSTGRES_PASSWORD"] not in logs
