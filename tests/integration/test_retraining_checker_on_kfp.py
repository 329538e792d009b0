"""The retraining-checker pipeline with its runs on KFP: the trigger asks the KFP API (a local fake of
its documented REST API) whether the last training run has ended before the check decides."""

from datetime import datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from kfp_fake import fake_kfp_for_clients

from pipelines.compile import compile_all
from pipelines.components import Images
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import actuals, drift_checks, model_versions, pipeline_runs, predictions
from taxifare.trigger.local_runner import InProcessExecutor
from taxifare.trigger.trigger import trigger_local

NOW = datetime(2026, 3, 1, 12, 0)
TOKEN = "integration-token"


@pytest.fixture
def fake_kfp(free_port, monkeypatch, tmp_path):
    with fake_kfp_for_clients(free_port, monkeypatch, tmp_path / "home", TOKEN) as fake:
        yield fake


def live_model_with_excess(engine) -> None:
    """A live model whose served trips cost $6 more than it predicted: far more error than expected."""
    rng = np.random.default_rng(0)
    with engine.begin() as conn:
        conn.execute(model_versions.insert().values(
            version="v1", created_at=NOW - timedelta(days=30), model_uri="/models/v1", status="live",
            promoted_at=NOW - timedelta(days=30), label_mean=12.0, label_std=6.0, eval_mae=1.0, eval_rmse=1.5,
            reference_stats={"expected_error": {"edges": [2.5, 60.0], "mae": [1.0], "count": [1000]}},
        ))  # fmt: skip
        served = [NOW - timedelta(hours=20) + timedelta(minutes=3 * i) for i in range(300)]
        conn.execute(predictions.insert(), [
            {"created_at": t, "model_version": "v1", "request_id": f"r{i}", "pickup_datetime": t,
             "pickup_longitude": -73.98, "pickup_latitude": 40.75, "dropoff_longitude": -73.96,
             "dropoff_latitude": 40.77, "passenger_count": 1, "distance_km": 2.5, "pickup_hour": t.hour,
             "prediction": 10.0}
            for i, t in enumerate(served)
        ])  # fmt: skip
        conn.execute(actuals.insert(), [
            {"request_id": f"r{i}", "fare_amount": 16.0 + rng.normal(0, 1), "known_at": t + timedelta(minutes=30)}
            for i, t in enumerate(served)
        ])  # fmt: skip


def check_on_kfp(engine, fake, settings, tmp_path):
    compiled = compile_all(Images("taxifare", "test"), tmp_path / "compiled", kfp_host=fake.url)
    package = next(p for p in compiled if p.name == "retraining_checker.yaml")
    return trigger_local(
        engine,
        "retraining-checker",
        {"backend": "kfp", "now": NOW.isoformat(), "min_new_data_hours": 1.0},
        runs_dir=settings.runs_dir,
        reason="test",
        triggered_by="pytest",
        package=package,
        now=NOW,
        executor=InProcessExecutor(),
    )


@pytest.mark.parametrize(("kfp_state", "retrains"), [("RUNNING", False), ("SUCCEEDED", True)])
def test_a_training_run_blocks_the_check_only_while_kfp_says_it_runs(
    fake_kfp, settings_env, tmp_path, kfp_state, retrains
):
    engine = connect_engine(settings_env.database_url)
    live_model_with_excess(engine)
    # The last training run was started on KFP three hours ago; KFP now says it is running, or it
    # succeeded an hour ago. The run records still say "running": only KFP knows it ended.
    fake_kfp.runs["run-earlier"] = {"run_id": "run-earlier", "state": kfp_state, "display_name": "earlier"}
    with engine.begin() as conn:
        conn.execute(pipeline_runs.insert().values(
            pipeline="taxi-fare-predictor", backend="kfp", external_run_id="run-earlier", status="running",
            created_at=NOW - timedelta(hours=3), started_at=NOW - timedelta(hours=3),
        ))  # fmt: skip

    check_on_kfp(engine, fake_kfp, settings_env, tmp_path)

    with engine.connect() as conn:
        check = conn.execute(sa.select(drift_checks)).one()
        runs = conn.execute(
            sa.select(pipeline_runs.c.status, pipeline_runs.c.external_run_id)
            .where(pipeline_runs.c.pipeline == "taxi-fare-predictor")
            .order_by(pipeline_runs.c.id)
        ).all()
    engine.dispose()
    assert check.decision is retrains, check.reason
    assert check.statistics["error"]["excess"] == pytest.approx(5.0, abs=0.2)
    if retrains:
        assert check.reason.startswith("retraining needed: realised MAE")
        started = [r for r in fake_kfp.runs if r != "run-earlier"]
        assert len(started) == 1  # the trigger step started the training pipeline on KFP
        assert [tuple(r) for r in runs] == [("succeeded", "run-earlier"), ("running", started[0])]
    else:
        assert (
            "a taxi-fare-predictor run is in flight (run 1, running since 2026-03-01 09:00)" in check.reason
        )
        assert list(fake_kfp.runs) == ["run-earlier"]
        assert [tuple(r) for r in runs] == [("running", "run-earlier")]
