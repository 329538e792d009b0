"""Kubeflow Pipelines through `kfp.Client` (the KFP v2beta1 REST API): start runs, upload, schedule.

Credentials, in this order: `KFP_TOKEN` or the file named by `KFP_TOKEN_FILE` (sent as
`Authorization: Bearer ...`); else, inside a cluster, the projected service-account token that
`KF_PIPELINES_SA_TOKEN_PATH` names (default /var/run/secrets/kubeflow/pipelines/token), re-read on
every request because the kubelet rotates it; else no credentials (a port-forward). The token is
never logged nor put in a message.
"""

import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from taxifare.core.config import read_secret
from taxifare.trigger import runs
from taxifare.trigger.cron import validate_cron

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "taxifare"
SA_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
SA_TOKEN_DEFAULT_PATH = "/var/run/secrets/kubeflow/pipelines/token"
# KFP run states (V2beta1RuntimeState) that will not change any more, and how pipeline_runs says them.
FINAL_STATES = {"SUCCEEDED": "succeeded", "FAILED": "failed", "CANCELED": "failed", "SKIPPED": "skipped"}


class KfpError(RuntimeError):
    """KFP could not be reached or refused a request; the message says which and why."""


@dataclass(frozen=True)
class KfpTarget:
    """Where and as whom to talk to KFP."""

    host: str
    token: str | None = None
    namespace: str | None = None

    @classmethod
    def from_env(
        cls, host: str | None = None, namespace: str | None = None, env: Mapping[str, str] | None = None
    ) -> "KfpTarget":
        env = os.environ if env is None else env
        host = host or env.get("KFP_HOST")
        if not host:
            raise KfpError(
                "no KFP host: give --host or set KFP_HOST (e.g. http://ml-pipeline.kubeflow:8888, "
                "or http://127.0.0.1:8888 through a port-forward)"
            )
        if not host.startswith(("http://", "https://")):
            raise KfpError(f"KFP host {host!r} needs a scheme: http://{host} or https://{host}")
        return cls(host.rstrip("/"), read_secret("KFP_TOKEN", env), namespace or env.get("KFP_NAMESPACE"))

    def __repr__(self) -> str:
        return f"KfpTarget(host={self.host!r}, token={'***' if self.token else None})"


def connect(target: KfpTarget, env: Mapping[str, str] | None = None):
    """A kfp.Client for `target` (constructing one already calls the API: healthz)."""
    try:
        import kfp
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials
    except ImportError:
        # Imported here so that the local backend works without the KFP SDK installed.
        raise KfpError("the kfp backend needs the KFP SDK: pip install kfp==2.17.3") from None

    env = os.environ if env is None else env
    kwargs: dict[str, Any] = {"host": target.host}
    if target.token:
        kwargs["existing_token"] = target.token
    elif Path(env.get(SA_TOKEN_ENV) or SA_TOKEN_DEFAULT_PATH).is_file():
        # kfp.Client reads this token only when it finds the host itself; with an explicit host it
        # must be handed over as credentials.
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(env.get(SA_TOKEN_ENV))
    if target.namespace:
        kwargs["namespace"] = target.namespace
    with api_errors(target.host):
        return kfp.Client(**kwargs)


def start_run(
    client,
    host: str,
    run_name: str,
    *,
    parameters: Mapping[str, Any],
    experiment: str = DEFAULT_EXPERIMENT,
    package: Path | None = None,
    pipeline_name: str | None = None,
    version_name: str | None = None,
) -> str:
    """Start a run from a compiled package or an uploaded pipeline (by name, newest or named version);
    returns the KFP run id."""
    with api_errors(host):
        if package is not None:
            result = client.create_run_from_pipeline_package(
                str(package), arguments=dict(parameters), run_name=run_name, experiment_name=experiment
            )
            return result.run_id
        pipeline_id, version_id = _find_version(client, pipeline_name, version_name)
        experiment_id = client.create_experiment(name=experiment).experiment_id
        run = client.run_pipeline(
            experiment_id,
            run_name,
            params=dict(parameters),
            pipeline_id=pipeline_id,
            version_id=version_id,
        )
        return run.run_id


def upload(
    host: str, package: Path, name: str, version: str, target: KfpTarget | None = None
) -> tuple[str, str]:
    """Upload `package` as version `version` of pipeline `name` (created if new).

    Returns (pipeline id, version id)."""
    client = connect(target or KfpTarget.from_env(host))
    with api_errors(host):
        pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline_id = client.upload_pipeline(str(package), pipeline_name=name).pipeline_id
            log.info("pipeline %s created", name, extra={"pipeline_id": pipeline_id})
        uploaded = client.upload_pipeline_version(str(package), version, pipeline_id=pipeline_id)
        return pipeline_id, uploaded.pipeline_version_id


def create_recurring_run(
    host: str,
    pipeline: str,
    cron: str,
    *,
    version: str | None = None,
    package: Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    job_name: str | None = None,
    target: KfpTarget | None = None,
) -> str:
    """A recurring run of uploaded pipeline `pipeline` (or of `package`) on a 6-field cron; returns its id.

    One run at a time and no catch-up: a checker that was paused should check once, not once per
    missed slot.
    """
    cron = validate_cron(cron)
    client = connect(target or KfpTarget.from_env(host))
    with api_errors(host):
        source: dict[str, Any] = {"pipeline_package_path": str(package)} if package else {}
        if package is None:
            source["pipeline_id"], source["version_id"] = _find_version(client, pipeline, version)
        experiment_id = client.create_experiment(name=experiment).experiment_id
        recurring = client.create_recurring_run(
            experiment_id,
            job_name or f"{pipeline} ({cron})",
            cron_expression=cron,
            max_concurrency=1,
            no_catchup=True,
            params=dict(parameters or {}),
            **source,
        )
        return recurring.recurring_run_id


def refresh_in_flight(engine: sa.Engine, client, host: str, pipeline: str) -> None:
    """Record the outcome of this pipeline's KFP runs that have finished since they were started.

    A KFP run finishes on the cluster, not in this process, so its row stays "running" until someone
    asks; the in-flight guard asks here before deciding.
    """
    for row in runs.in_flight_runs(engine, pipeline, backend="kfp"):
        if not row.external_run_id:
            continue
        with api_errors(host):
            state = str(client.get_run(row.external_run_id).state or "")
        if state in FINAL_STATES:
            runs.finish_run(
                engine, row.id, FINAL_STATES[state], f"KFP run state {state}", only_if_in_flight=True
            )


def _find_version(client, pipeline_name: str | None, version_name: str | None) -> tuple[str, str]:
    if not pipeline_name:
        raise KfpError("give a compiled package or the name of an uploaded pipeline")
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        raise KfpError(f"no pipeline named {pipeline_name!r} on KFP (upload it first: `make upload`)")
    if version_name:
        query = {"filter": _name_filter(version_name)}
    else:
        query = {"sort_by": "created_at desc", "page_size": 1}
    versions = client.list_pipeline_versions(pipeline_id, **query).pipeline_versions or []
    if not versions:
        wanted = f"version {version_name!r}" if version_name else "any version"
        raise KfpError(f"pipeline {pipeline_name!r} has no {wanted} on KFP")
    return pipeline_id, versions[0].pipeline_version_id


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


@contextlib.contextmanager
def api_errors(host: str) -> Iterator[None]:
    """Turn the client's exceptions into a KfpError that says what happened and where.

    The client also prints links to stdout and warns about versions; both go to stderr or away, so
    that stdout stays this program's own.
    """
    import kfp_server_api
    import urllib3

    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore", FutureWarning)
        try:
            yield
        except kfp_server_api.ApiException as e:
            raise KfpError(f"KFP at {host} refused the request: {_describe(e)}") from None
        except urllib3.exceptions.HTTPError as e:
            reason = getattr(e, "reason", None) or e
            raise KfpError(f"cannot reach KFP at {host}: {reason}") from None
        except ValueError as e:
            raise KfpError(f"KFP at {host}: {e}") from None


def _describe(error) -> str:
    status = f"HTTP {error.status} {error.reason or ''}".strip()
    if error.status == 401:
        return f"{status}: no or wrong credentials (set KFP_TOKEN or KFP_TOKEN_FILE)"
    detail = ""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        body = json.loads(error.body)
        detail = body.get("message") or body.get("error") or ""
    return f"{status}: {detail}" if detail else status
