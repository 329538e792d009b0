"""A local fake of the KFP v2beta1 REST API, for the endpoints the trigger uses.

It checks each request against the documented shapes (field names of kfp_server_api's V2beta1* models,
the JSON filter of list calls, multipart uploads, `Authorization: Bearer` when a token is set) and
answers 400 naming what is wrong, as the API server would; valid requests get documented responses.
Everything it received is kept in `requests` for the tests to inspect.
"""

import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

API = "/apis/v2beta1"
CREATED_AT = "2024-05-01T12:00:00Z"
EQUALS = 1  # V2beta1PredicateOperation.EQUALS, as the SDK sends it


@dataclass
class FakeKfp:
    url: str = ""
    token: str | None = None
    experiments: dict[str, dict] = field(default_factory=dict)
    pipelines: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, list[dict]] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    recurring_runs: dict[str, dict] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)

    def calls(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == API + path]

    def add_pipeline(self, name: str, versions: list[str]) -> str:
        pipeline_id = f"pipeline-{len(self.pipelines) + 1}"
        self.pipelines[pipeline_id] = {
            "pipeline_id": pipeline_id,
            "display_name": name,
            "created_at": CREATED_AT,
        }
        for version in versions:
            self._add_version(pipeline_id, version)
        return pipeline_id

    def _add_version(self, pipeline_id: str, name: str) -> dict:
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": f"{pipeline_id}-v{len(self.versions.get(pipeline_id, [])) + 1}",
            "display_name": name,
            "created_at": CREATED_AT,
        }
        self.versions.setdefault(pipeline_id, []).append(version)
        return version


class BadRequest(Exception):
    pass


def create_app(fake: FakeKfp) -> Flask:
    app = Flask("fake-kfp")
    ids = itertools.count(1)

    @app.before_request
    def record_and_authorise():
        fake.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "args": request.args.to_dict(),
                "json": request.get_json(silent=True),
                "files": {name: f.read() for name, f in request.files.items()},
                "content_type": request.content_type or "",
                "authorization": request.headers.get("Authorization"),
            }
        )
        # The API server's health check is open; everything else needs the token when one is set.
        authorised = request.headers.get("Authorization") == f"Bearer {fake.token}"
        if fake.token and request.path != f"{API}/healthz" and not authorised:
            return jsonify(error="Unauthenticated", code=16, message="Unauthenticated"), 401
        return None

    @app.errorhandler(BadRequest)
    def bad_request(e):
        return jsonify(error=str(e), code=3, message=str(e)), 400

    @app.get(f"{API}/healthz")
    def healthz():
        return jsonify(multi_user=False, pipeline_store="database")

    @app.get(f"{API}/experiments")
    def list_experiments():
        name = _filter_name(request.args.get("filter"))
        found = [e for e in fake.experiments.values() if e["display_name"] == name]
        return jsonify(experiments=found, total_size=len(found)) if found else jsonify({})

    @app.post(f"{API}/experiments")
    def create_experiment():
        body = _json_body({"display_name", "description", "namespace"})
        if not body.get("display_name"):
            raise BadRequest("experiment display_name is required")
        experiment_id = f"experiment-{next(ids)}"
        fake.experiments[experiment_id] = {
            "experiment_id": experiment_id,
            "display_name": body["display_name"],
            "created_at": CREATED_AT,
            "storage_state": "AVAILABLE",
        }
        return jsonify(fake.experiments[experiment_id])

    @app.get(f"{API}/pipelines")
    def list_pipelines():
        name = _filter_name(request.args.get("filter"))
        found = [p for p in fake.pipelines.values() if p["display_name"] == name]
        return jsonify(pipelines=found, total_size=len(found)) if found else jsonify({})

    @app.post(f"{API}/pipelines/upload")
    def upload_pipeline():
        _uploaded_spec()
        name = request.args.get("name")
        if not name:
            raise BadRequest("query parameter name is required")
        if any(p["display_name"] == name for p in fake.pipelines.values()):
            raise BadRequest(f"pipeline {name!r} already exists")
        pipeline_id = fake.add_pipeline(name, [name])
        return jsonify(fake.pipelines[pipeline_id])

    @app.post(f"{API}/pipelines/upload_version")
    def upload_pipeline_version():
        _uploaded_spec()
        pipeline_id, name = request.args.get("pipelineid"), request.args.get("name")
        if pipeline_id not in fake.pipelines or not name:
            raise BadRequest("query parameters pipelineid (an existing pipeline) and name are required")
        return jsonify(fake._add_version(pipeline_id, name))

    @app.get(f"{API}/pipelines/<pipeline_id>/versions")
    def list_versions(pipeline_id):
        versions = list(fake.versions.get(pipeline_id, []))
        if request.args.get("filter"):
            name = _filter_name(request.args["filter"])
            versions = [v for v in versions if v["display_name"] == name]
        if request.args.get("sort_by") == "created_at desc":
            versions.reverse()
        versions = versions[: int(request.args.get("page_size") or 10)]
        return jsonify(pipeline_versions=versions, total_size=len(versions)) if versions else jsonify({})

    @app.post(f"{API}/runs")
    def create_run():
        body = _json_body(_RUN_FIELDS)
        _check_run_source(fake, body)
        run_id = f"run-{next(ids)}"
        fake.runs[run_id] = {
            **{k: v for k, v in body.items() if v is not None},
            "run_id": run_id,
            "state": "PENDING",
            "created_at": CREATED_AT,
        }
        return jsonify(fake.runs[run_id])

    @app.get(f"{API}/runs/<run_id>")
    def get_run(run_id):
        if run_id not in fake.runs:
            return jsonify(error=f"run {run_id} not found", code=5, message="not found"), 404
        return jsonify(fake.runs[run_id])

    @app.post(f"{API}/recurringruns")
    def create_recurring_run():
        body = _json_body(_RUN_FIELDS | {"trigger", "mode", "max_concurrency", "no_catchup"})
        _check_run_source(fake, body)
        cron = ((body.get("trigger") or {}).get("cron_schedule") or {}).get("cron")
        if not cron:
            raise BadRequest("trigger.cron_schedule.cron is required")
        if body.get("mode") not in ("ENABLE", "DISABLE"):
            raise BadRequest("mode must be ENABLE or DISABLE")
        recurring_id = f"recurring-{next(ids)}"
        fake.recurring_runs[recurring_id] = {
            **body,
            "recurring_run_id": recurring_id,
            "status": "ENABLED",
            "created_at": CREATED_AT,
        }
        return jsonify(fake.recurring_runs[recurring_id])

    return app


_RUN_FIELDS = {
    "experiment_id",
    "display_name",
    "description",
    "pipeline_spec",
    "pipeline_version_reference",
    "runtime_config",
    "service_account",
}


def _json_body(allowed: set[str]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise BadRequest(f"unknown field(s): {sorted(unknown)}")
    return body


def _check_run_source(fake: FakeKfp, body: dict) -> None:
    if not body.get("display_name"):
        raise BadRequest("display_name is required")
    if body.get("experiment_id") not in fake.experiments:
        raise BadRequest(f"experiment_id {body.get('experiment_id')!r} does not exist")
    spec, reference = body.get("pipeline_spec"), body.get("pipeline_version_reference")
    if (spec is None) == (reference is None):
        raise BadRequest("exactly one of pipeline_spec and pipeline_version_reference is required")
    # A pipeline with Kubernetes settings (kfp.kubernetes) comes as {"pipeline_spec", "platform_spec"},
    # as kfp.Client sends it (kfp/client/client.py, _PipelineDoc.to_dict); a plain one as the spec itself.
    if isinstance(spec, dict) and set(spec) == {"pipeline_spec", "platform_spec"}:
        if not isinstance(spec["platform_spec"], dict) or "platforms" not in spec["platform_spec"]:
            raise BadRequest("platform_spec has no platforms")
        spec = spec["pipeline_spec"]
    if spec is not None and not {"pipelineInfo", "root", "components"} <= set(spec):
        raise BadRequest("pipeline_spec is not a compiled pipeline (pipelineInfo, root, components)")
    if reference is not None:
        versions = fake.versions.get(reference.get("pipeline_id"), [])
        if reference.get("pipeline_version_id") not in {v["pipeline_version_id"] for v in versions}:
            raise BadRequest(f"pipeline_version_reference {reference} does not exist")
    parameters = (body.get("runtime_config") or {}).get("parameters")
    if not isinstance(parameters, dict):
        raise BadRequest("runtime_config.parameters must be an object")


def _filter_name(text: str | None) -> str:
    try:
        predicates = json.loads(text or "")["predicates"]
        (predicate,) = predicates
    except (ValueError, KeyError, TypeError):
        raise BadRequest(f"filter is not a JSON filter with one predicate: {text!r}") from None
    if predicate.get("operation") not in (EQUALS, "EQUALS") or predicate.get("key") != "display_name":
        raise BadRequest(f"unsupported filter predicate {predicate}")
    return predicate.get("string_value", predicate.get("stringValue"))


def _uploaded_spec() -> None:
    if not request.content_type or not request.content_type.startswith("multipart/form-data"):
        raise BadRequest("uploads are multipart/form-data")
    upload = request.files.get("uploadfile")
    if upload is None:
        raise BadRequest("multipart field uploadfile is required")
    upload.seek(0)
    if b"pipelineInfo" not in upload.read():
        raise BadRequest("uploadfile is not a compiled pipeline")


class FakeKfpServer:
    """The fake served by werkzeug on 127.0.0.1:`port` in a thread."""

    def __init__(self, port: int, token: str | None = None):
        self.fake = FakeKfp(url=f"http://127.0.0.1:{port}", token=token)
        self._server = make_server("127.0.0.1", port, create_app(self.fake), threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeKfp:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def fake_kfp_for_clients(port: int, monkeypatch, home, token: str) -> Iterator[FakeKfp]:
    """The fake, with the environment a KFP client reads cleared but for the token it expects (and a
    home of its own, where the SDK writes its credentials cache)."""
    for name in ("KFP_TOKEN_FILE", "KFP_HOST", "KFP_NAMESPACE", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KFP_TOKEN", token)
    monkeypatch.setenv("HOME", str(home))
    with FakeKfpServer(port, token=token) as fake:
        yield fake
