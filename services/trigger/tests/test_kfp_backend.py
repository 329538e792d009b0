"""kfp.Client against a local fake of the KFP v2beta1 REST API that checks the documented request shapes."""

import re

import pytest
import sample_components as p
from kfp import dsl
from kfp_fake import FakeKfpServer

from taxifare.trigger import kfp_backend
from taxifare.trigger.cron import CronError, validate_cron
from taxifare.trigger.kfp_backend import KfpError, KfpTarget

TOKEN = "s3cret-token-value"


@pytest.fixture
def fake_kfp(free_port, monkeypatch, tmp_path):
    for name in ("KFP_TOKEN", "KFP_TOKEN_FILE", "KFP_HOST", "KFP_NAMESPACE", kfp_backend.SA_TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    # Nothing from this machine's kfp context file: the client would otherwise read ~/.config/kfp.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with FakeKfpServer(free_port, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def package(compile_pipeline):
    @dsl.pipeline(name="greeting")
    def greeting(message: str = "hello"):
        p.say(message=message)

    return compile_pipeline(greeting)


def client_for(fake, token=TOKEN):
    return kfp_backend.connect(KfpTarget(fake.url, token))


def test_a_run_from_a_compiled_package(fake_kfp, package):
    client = client_for(fake_kfp)
    run_id = kfp_backend.start_run(
        client, fake_kfp.url, "greeting #7", parameters={"message": "hi"}, package=package
    )

    (lookup,) = fake_kfp.calls("GET", "/experiments")
    assert '"stringValue": "taxifare"' in lookup["args"]["filter"]
    (created,) = fake_kfp.calls("POST", "/experiments")
    assert created["json"]["display_name"] == "taxifare"
    (posted,) = fake_kfp.calls("POST", "/runs")
    body = posted["json"]
    assert body["display_name"] == "greeting #7"
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "greeting"
    assert body["runtime_config"]["parameters"] == {"message": "hi"}
    assert body["experiment_id"] == created_id(fake_kfp)
    assert "pipeline_version_reference" not in body or body["pipeline_version_reference"] is None
    assert fake_kfp.runs[run_id]["display_name"] == "greeting #7"
    api_calls = [r for r in fake_kfp.requests if not r["path"].endswith("/healthz")]
    assert {r["authorization"] for r in api_calls} == {f"Bearer {TOKEN}"}


def created_id(fake):
    (experiment_id,) = fake.experiments
    return experiment_id


def test_an_existing_experiment_is_reused(fake_kfp, package):
    client = client_for(fake_kfp)
    for name in ("first", "second"):
        kfp_backend.start_run(
            client, fake_kfp.url, name, parameters={}, package=package, experiment="nightly"
        )
    assert len(fake_kfp.calls("POST", "/experiments")) == 1
    assert len({r["experiment_id"] for r in fake_kfp.runs.values()}) == 1


def test_a_run_of_an_uploaded_pipeline_by_name_and_version(fake_kfp):
    pipeline_id = fake_kfp.add_pipeline("taxi-fare-predictor", ["v1", "v2"])
    client = client_for(fake_kfp)

    named = kfp_backend.start_run(
        client,
        fake_kfp.url,
        "named",
        parameters={"epochs": 2},
        pipeline_name="taxi-fare-predictor",
        version_name="v1",
    )
    newest = kfp_backend.start_run(
        client, fake_kfp.url, "newest", parameters={}, pipeline_name="taxi-fare-predictor"
    )

    assert fake_kfp.runs[named]["pipeline_version_reference"] == {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": f"{pipeline_id}-v1",
    }
    assert fake_kfp.runs[newest]["pipeline_version_reference"]["pipeline_version_id"] == f"{pipeline_id}-v2"
    assert fake_kfp.runs[named]["runtime_config"]["parameters"] == {"epochs": 2}
    assert "pipeline_spec" not in fake_kfp.runs[named]


def test_an_unknown_pipeline_or_version_is_named(fake_kfp):
    fake_kfp.add_pipeline("taxi-fare-predictor", ["v1"])
    client = client_for(fake_kfp)
    with pytest.raises(KfpError, match="no pipeline named 'nope'"):
        kfp_backend.start_run(client, fake_kfp.url, "x", parameters={}, pipeline_name="nope")
    with pytest.raises(KfpError, match="has no version 'v9'"):
        kfp_backend.start_run(
            client, fake_kfp.url, "x", parameters={}, pipeline_name="taxi-fare-predictor", version_name="v9"
        )
    assert not fake_kfp.calls("POST", "/runs")


def test_upload_creates_the_pipeline_once_then_adds_versions(fake_kfp, package):
    target = KfpTarget(fake_kfp.url, TOKEN)
    first = kfp_backend.upload(fake_kfp.url, package, "greeting", "2024-05-01", target)
    second = kfp_backend.upload(fake_kfp.url, package, "greeting", "2024-05-02", target)

    (created,) = fake_kfp.calls("POST", "/pipelines/upload")
    assert created["args"]["name"] == "greeting"
    assert created["content_type"].startswith("multipart/form-data")
    assert b"pipelineInfo" in created["files"]["uploadfile"]
    versions = fake_kfp.calls("POST", "/pipelines/upload_version")
    assert [v["args"]["name"] for v in versions] == ["2024-05-01", "2024-05-02"]
    assert {v["args"]["pipelineid"] for v in versions} == {first[0]}
    assert first[0] == second[0] and first[1] != second[1]


def test_a_recurring_run_on_a_cron(fake_kfp):
    pipeline_id = fake_kfp.add_pipeline("retraining-checker", ["v1"])
    recurring_id = kfp_backend.create_recurring_run(
        fake_kfp.url,
        "retraining-checker",
        "0  */30 * * * *",
        parameters={"window_hours": 24},
        target=KfpTarget(fake_kfp.url, TOKEN),
    )
    (posted,) = fake_kfp.calls("POST", "/recurringruns")
    body = posted["json"]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 */30 * * * *"
    assert body["mode"] == "ENABLE"
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["pipeline_version_reference"]["pipeline_id"] == pipeline_id
    assert body["runtime_config"]["parameters"] == {"window_hours": 24}
    assert recurring_id in fake_kfp.recurring_runs


@pytest.mark.parametrize(
    ("cron", "complaint"),
    [
        ("*/30 * * * *", "has 5 fields; KFP wants 6 with seconds first"),
        ("0 0 * * *  * *", "has 7 fields"),
        ("60 * * * * *", "second '60' is not in 0..59"),
        ("0 0 25 * * *", "hour '25' is not in 0..23"),
        ("0 0 0 * 13 *", "month '13' is not in 1..12"),
        ("0 0 0 * * 5-1", "day of week range '5-1' runs backwards"),
        ("0 */0 * * * *", "step of 0"),
        ("0 0 ? * * *", "'?' is only allowed for day of month or day of week"),
        ("0 0 * * * every", "day of week 'every' is not in 0..6"),
    ],
)
def test_bad_crons_are_refused_before_anything_is_sent(fake_kfp, cron, complaint):
    with pytest.raises(CronError, match=re.escape(complaint)):
        kfp_backend.create_recurring_run(fake_kfp.url, "retraining-checker", cron)
    assert fake_kfp.requests == []


@pytest.mark.parametrize(
    "cron", ["0 0 9 ? * 2-6", "0 */30 * * * *", "15 0 0 1,15 JAN-jun SUN", "0 0 0 * * *"]
)
def test_good_crons_pass(cron):
    assert validate_cron(cron) == cron


def test_a_wrong_token_is_a_clear_refusal_that_does_not_show_the_token(fake_kfp, package):
    client = client_for(fake_kfp, token="wrong-token-value")
    with pytest.raises(KfpError) as caught:
        kfp_backend.start_run(client, fake_kfp.url, "x", parameters={}, package=package)
    message = str(caught.value)
    assert "HTTP 401" in message and "KFP_TOKEN" in message and fake_kfp.url in message
    assert "wrong-token-value" not in message


def test_an_unreachable_host_is_named(free_port):
    with pytest.raises(KfpError, match=f"cannot reach KFP at http://127.0.0.1:{free_port}"):
        kfp_backend.connect(KfpTarget(f"http://127.0.0.1:{free_port}"))


def test_the_in_cluster_service_account_token_is_read_on_every_request(
    fake_kfp, package, tmp_path, monkeypatch
):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    monkeypatch.setenv(kfp_backend.SA_TOKEN_ENV, str(token_file))
    client = kfp_backend.connect(KfpTarget.from_env(fake_kfp.url))
    kfp_backend.start_run(client, fake_kfp.url, "one", parameters={}, package=package)
    token_file.write_text("rotated-by-the-kubelet")
    fake_kfp.token = "rotated-by-the-kubelet"
    kfp_backend.start_run(client, fake_kfp.url, "two", parameters={}, package=package)
    auths = [r["authorization"] for r in fake_kfp.calls("POST", "/runs")]
    assert auths == [f"Bearer {TOKEN}", "Bearer rotated-by-the-kubelet"]


def test_the_target_reads_the_token_from_a_file_and_never_shows_it(tmp_path):
    token_file = tmp_path / "kfp-token"
    token_file.write_text(TOKEN + "\n")
    target = KfpTarget.from_env(
        env={"KFP_HOST": "http://kfp.example:8888/", "KFP_TOKEN_FILE": str(token_file)}
    )
    assert (target.host, target.token) == ("http://kfp.example:8888", TOKEN)
    assert TOKEN not in repr(target)


@pytest.mark.parametrize(
    ("env", "complaint"),
    [({}, "no KFP host: give --host or set KFP_HOST"), ({"KFP_HOST": "kfp:8888"}, "needs a scheme")],
)
def test_a_missing_or_bare_host_is_explained(env, complaint):
    with pytest.raises(KfpError, match=complaint):
        KfpTarget.from_env(env=env)
