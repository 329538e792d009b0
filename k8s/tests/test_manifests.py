"""Render the kustomizations with k8s/validate.sh and check what the schemas cannot: security
settings, probes, resources and image tags of every workload."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

K8S = Path(__file__).resolve().parent.parent
VALIDATE_SH = K8S / "validate.sh"
KUBERNETES_VALIDATE = Path(sys.executable).with_name("kubernetes-validate")

pytestmark = [
    pytest.mark.skipif(
        shutil.which("kubectl") is None, reason="kubectl not installed (Debian: kubernetes-client)"
    ),
    pytest.mark.skipif(
        not KUBERNETES_VALIDATE.exists(),
        reason="kubernetes-validate not installed (pip install kubernetes-validate)",
    ),
]


def run_validate(k8s_dir: Path, out_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBERNETES_VALIDATE": str(KUBERNETES_VALIDATE)}
    return subprocess.run(
        ["bash", str(k8s_dir / "validate.sh"), str(out_dir)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("rendered")
    result = run_validate(K8S, out)
    assert result.returncode == 0, result.stdout + result.stderr
    return {path.stem: [d for d in yaml.safe_load_all(path.read_text()) if d] for path in out.glob("*.yaml")}


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")]


def pod_spec(workload: dict) -> dict:
    spec = workload["spec"]
    return (spec["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else spec)["template"]["spec"]


def by_name(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def test_every_kustomization_renders_and_validates(rendered):
    assert {"base", "overlay-cloud-sql", "overlay-own-postgres", "component-drift-traffic"} <= set(rendered)


def test_every_container_is_locked_down(rendered):
    for name, docs in rendered.items():
        for workload in workloads(docs):
            pod = pod_spec(workload)
            assert pod["securityContext"]["runAsNonRoot"] is True, (name, workload["metadata"]["name"])
            for container in pod["containers"]:
                where = (name, workload["metadata"]["name"], container["name"])
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True, where
                assert security["allowPrivilegeEscalation"] is False, where
                assert security["capabilities"]["drop"] == ["ALL"], where
                assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
                assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
                image = container["image"]
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), where


def test_predictor_probes_and_writable_folders(rendered):
    deployment = by_name(rendered["base"], "Deployment", "taxifare-predictor")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    emptydirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/tmp"] in emptydirs
    env = {e["name"]: e for e in container["env"]}
    cache = Path(env["PREDICTOR_MODEL_CACHE_DIR"]["value"])
    assert any(cache.is_relative_to(path) and mounts[path] in emptydirs for path in mounts), cache
    # The database URL (with its password) only ever comes from the secret.
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "taxifare-db", "key": "database-url"}
    service = by_name(rendered["base"], "Service", "taxifare-predictor")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_drifted_traffic_is_opt_in(rendered):
    names = lambda docs: {d["metadata"]["name"] for d in workloads(docs)}  # noqa: E731
    assert "taxifare-traffic-drift" not in names(rendered["base"])
    assert "taxifare-traffic-drift" in names(rendered["component-drift-traffic"])
    drift = by_name(rendered["component-drift-traffic"], "Deployment", "taxifare-traffic-drift")
    assert "--mode=drift" in drift["spec"]["template"]["spec"]["containers"][0]["args"]
    assert drift["metadata"]["namespace"] == "taxifare"


def test_own_postgres_replaces_the_cloud_sql_proxy(rendered):
    base, own = rendered["base"], rendered["overlay-own-postgres"]
    assert by_name(base, "Service", "taxifare-db")["spec"]["selector"]
    assert "taxifare-cloud-sql-proxy" not in {d["metadata"]["name"] for d in own}
    service = by_name(own, "Service", "taxifare-db")
    assert service["spec"]["type"] == "ExternalName"
    assert "selector" not in service["spec"]


def test_trigger_may_start_kfp_runs(rendered):
    docs = rendered["base"]
    binding = by_name(docs, "RoleBinding", "taxifare-trigger-kfp-client")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "taxifare-trigger", "namespace": "taxifare"}
    ]
    role = by_name(docs, "Role", binding["roleRef"]["name"])
    allowed = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("runs", "create"), ("recurringruns", "create")} <= allowed


def test_secret_example_holds_placeholders_only(rendered):
    secret = by_name(rendered["base"], "Secret", "taxifare-db")
    assert "CHANGE-ME" in secret["stringData"]["database-url"]


def test_validate_fails_on_an_invalid_manifest(tmp_path):
    broken = tmp_path / "k8s"
    shutil.copytree(K8S, broken, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    predictor = broken / "base" / "predictor.yaml"
    predictor.write_text(predictor.read_text().replace("replicas: 2", 'replicas: "two"'))
    result = run_validate(broken, tmp_path / "out")
    assert result.returncode != 0
    assert "replicas" in result.stdout + result.stderr


def test_only_traffic_generators_reach_the_predictor(rendered):
    for name, docs in rendered.items():
        policy = by_name(docs, "NetworkPolicy", "taxifare-predictor")
        predictor = by_name(docs, "Deployment", "taxifare-predictor")
        assert policy["spec"]["podSelector"]["matchLabels"] == predictor["spec"]["selector"]["matchLabels"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
        allowed = [peer["podSelector"]["matchLabels"] for peer in rule["from"] if "podSelector" in peer]
        assert allowed == [{"taxifare.io/predictor-client": "true"}], name
        for workload in workloads(docs):
            labels = workload["spec"].get("template", {}).get("metadata", {}).get("labels", {})
            is_client = labels.get("taxifare.io/predictor-client") == "true"
            assert is_client == workload["metadata"]["name"].startswith("taxifare-traffic-"), (name, workload)


def test_predictor_and_traffic_share_the_actuals_token_secret(rendered):
    docs = rendered["component-drift-traffic"]
    ref = {"name": "taxifare-predictor-actuals", "key": "token"}
    for kind_name in ("taxifare-predictor", "taxifare-traffic-normal", "taxifare-traffic-drift"):
        (container,) = pod_spec(by_name(docs, "Deployment", kind_name))["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["PREDICTOR_ACTUALS_TOKEN"]["valueFrom"]["secretKeyRef"] == ref, kind_name
    assert "CHANGE-ME" in by_name(docs, "Secret", "taxifare-predictor-actuals")["stringData"]["token"]


def test_prune_runs_nightly_with_the_database_secret(rendered):
    for name in ("base", "overlay-own-postgres"):
        cron = by_name(rendered[name], "CronJob", "taxifare-prune")
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        (container,) = pod_spec(cron)["containers"]
        assert (
            container["command"][:2] == ["taxifare-db", "prune"] and "--keep-days=30" in container["command"]
        )
        env = {e["name"]: e for e in container["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "taxifare-db",
            "key": "database-url",
        }
    own = pod_spec(by_name(rendered["overlay-own-postgres"], "CronJob", "taxifare-prune"))
    assert own["containers"][0]["image"] == "127.0.0.1:5000/taxifare/taxifare-metrics-writer:dev"
