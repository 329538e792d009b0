"""docker-compose.yml read as data (and by Compose itself where it is installed)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_keeps_to_what_compose_v1_and_v2_accept(compose):
    assert set(compose) - {"services", "networks", "volumes"} <= {k for k in compose if k.startswith("x-")}
    assert "version" not in compose and "name" not in compose


def test_postgres_is_healthchecked_persistent_and_off_port_5432(services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    for port in postgres.get("ports", []):
        host_part = port.rsplit(":", 1)[0]
        assert host_part.startswith("127.0.0.1:") and not host_part.endswith(":5432"), port


def test_the_loop_runs_in_order(services):
    assert services["migrate"]["entrypoint"] == ["taxifare-db"] and services["migrate"]["command"] == [
        "upgrade"
    ]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("predictor", "scheduler", "bootstrap"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["traffic-normal"]["depends_on"]["predictor"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(services["predictor"]["healthcheck"]["test"])


def test_drifted_traffic_is_behind_a_profile(services):
    assert services["traffic-drift"]["profiles"] == ["drift"]
    assert "${DRIFT_MODE:-drift+concept}" in services["traffic-drift"]["command"]
    assert "profiles" not in services["traffic-normal"] and "normal" in services["traffic-normal"]["command"]


def test_runners_reach_docker_and_share_named_volumes(compose, services):
    names = {key: volume["name"] for key, volume in compose["volumes"].items()}
    assert compose["networks"]["default"]["name"] == "taxifare"
    for name in ("scheduler", "bootstrap"):
        service = services[name]
        assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"]
        assert service["environment"]["TAXIFARE_EXECUTOR"] == "docker"
        mounted = {v.split(":")[0]: v.split(":")[1] for v in service["volumes"] if not v.startswith("/")}
        for spec in service["environment"]["TAXIFARE_DOCKER_VOLUMES"].split(","):
            volume, path = spec.split(":")
            # The steps mount the volumes by their fixed names at the paths the runner itself uses.
            assert any(names[key] == volume and mounted[key] == path for key in mounted), spec


def test_same_variable_names_as_the_code(services):
    for name in ("predictor", "scheduler", "bootstrap"):
        env = services[name]["environment"]
        assert {
            "DATABASE_URL",
            "DATABASE_PASSWORD",
            "DATA_URI",
            "MODEL_STORE_URI",
            "TAXIFARE_STATE_DIR",
        } <= set(env), name
        # The password is only ever substituted from .env, never written here.
        assert env["DATABASE_PASSWORD"].startswith("${POSTGRES_PASSWORD")
        assert re.fullmatch(r"postgresql://\$\{POSTGRES_USER:-\w+\}@postgres:5432/\S+", env["DATABASE_URL"])


def test_env_example_names_every_variable_with_placeholders_only():
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE_FILE.read_text()))
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert used <= set(example), used - set(example)
    assert example["POSTGRES_PASSWORD"] == "change-me"


def test_compose_accepts_the_file(tmp_path):
    compose_bin = shutil.which("docker-compose")
    if compose_bin is None:
        pytest.skip("docker-compose not installed (../shared/docker/setup-docker.sh installs it)")
    result = subprocess.run(
        [
            compose_bin,
            "--env-file",
            str(ENV_EXAMPLE),
            "-f",
            str(COMPOSE_FILE),
            "--profile",
            "drift",
            "config",
            "-q",
        ],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Without a password, Compose refuses and says where to set it.
    (tmp_path / "empty.env").write_text("")
    result = subprocess.run(
        [compose_bin, "--env-file", str(tmp_path / "empty.env"), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


def test_actual_fares_need_the_token_and_only_the_traffic_generators_hold_it(services):
    holders = {
        name
        for name, service in services.items()
        if "PREDICTOR_ACTUALS_TOKEN" in service.get("environment", {})
    }
    assert holders == {"predictor", "traffic-normal", "traffic-drift"}
    for name in holders:
        # Required: Compose refuses to start without it, and it only ever comes from .env.
        assert services[name]["environment"]["PREDICTOR_ACTUALS_TOKEN"].startswith(
            "${PREDICTOR_ACTUALS_TOKEN:?"
        )


def test_prune_runs_after_the_migrations_and_keeps_running(services):
    prune = services["prune"]
    assert "taxifare-db prune --keep-days" in " ".join(prune["command"])
    assert prune["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert prune["restart"] == "unless-stopped" and "DATABASE_URL" in prune["environment"]


def test_traffic_talks_to_the_predictor_only(services):
    for name in ("traffic-normal", "traffic-drift"):
        env = services[name]["environment"]
        assert env["PREDICTOR_URL"] == "http://taxifare-predictor:8080"
        assert "DATA_URI" in env, "completed trips land in the data store"
        assert not {"DATABASE_URL", "DATABASE_PASSWORD"} & set(env), f"{name} needs no database credentials"
    assert "taxifare-predictor" in services["predictor"]["networks"]["default"]["aliases"]
