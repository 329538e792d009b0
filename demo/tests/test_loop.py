"""The whole loop, as `make demo` runs it but shorter, on SQLite and on Postgres.

The demo's own command line drives the real components (pipelines through the local runner, the
predictor under gunicorn, the traffic generator, the retraining checker); the assertions read what they
recorded in the database.
"""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import actuals, drift_checks, model_versions, pipeline_runs, predictions

SHORT = [
    "--history-days", "6", "--history-rows", "3000", "--train-days", "2", "--eval-days", "1",
    "--drift-days", "3", "--epochs", "30", "--normal-trips", "300", "--drift-trips", "3000",
    "--after-trips", "300", "--batch-size", "10", "--rate", "0", "--concurrency", "4",
]  # fmt: skip


def realised_mae(conn: sa.Connection, version: str, since) -> float:
    error = sa.func.abs(predictions.c.prediction - actuals.c.fare_amount)
    return conn.execute(
        sa.select(sa.func.avg(error))
        .select_from(predictions.join(actuals, actuals.c.request_id == predictions.c.request_id))
        .where(predictions.c.model_version == version, predictions.c.created_at > since)
    ).scalar_one()


@pytest.mark.slow
def test_the_whole_loop(tmp_path, database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "taxifare.demo.cli", "--state-dir", str(tmp_path / "demo"), *SHORT],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"demo failed:\n{done.stdout}\n{done.stderr}"

    engine = connect_engine(database_url)
    with engine.connect() as conn:
        versions = conn.execute(sa.select(model_versions).order_by(model_versions.c.id)).all()
        checks = conn.execute(sa.select(drift_checks).order_by(drift_checks.c.id)).all()
        runs = conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).all()
        deployed = [v for v in versions if v.promoted_at is not None]
        v1, v2 = deployed[0], deployed[-1]
        served = dict(
            conn.execute(
                sa.select(predictions.c.model_version, sa.func.count()).group_by(predictions.c.model_version)
            ).all()
        )
        # Drifted traffic: everything served after the first check.
        mae_v1 = realised_mae(conn, v1.version, checks[0].checked_at)
        mae_v2 = realised_mae(conn, v2.version, checks[0].checked_at)
    engine.dispose()

    # Step 3: v1 was live before any check; steps 5 and 6: the two checks and their reasons.
    assert len(checks) == 2
    assert v1.promoted_at < checks[0].checked_at
    assert checks[0].model_version == v1.version and checks[0].decision is False and checks[0].reason
    assert checks[1].model_version == v1.version and checks[1].decision is True and checks[1].reason
    # The retrain: a training run recorded as triggered by the checker, after the second check.
    retrains = [
        r for r in runs if r.pipeline == "taxi-fare-predictor" and r.triggered_by == "retraining-checker"
    ]
    assert len(retrains) == 1 and retrains[0].status == "succeeded"
    assert retrains[0].reason == checks[1].reason  # passed from the check to the trigger step
    assert retrains[0].created_at >= checks[1].checked_at
    # v2 trained on the new data, live; v1 retired.
    assert v2.version != v1.version and v2.status == "live"
    assert v2.promoted_at > checks[1].checked_at
    assert v1.status == "retired" and v1.retired_at is not None
    assert v2.data_start > v1.data_end
    # ... as of the simulated clock the checker passed on: the end of the drifted days.
    assert retrains[0].parameters["now"].startswith(v2.data_end.isoformat())
    # Both served, and the error on drifted traffic dropped after the swap.
    assert served.get(v1.version, 0) >= 300 + 3000 and served.get(v2.version, 0) >= 300
    assert mae_v2 < mae_v1
    # What the demo printed and wrote.
    assert "retraining checker: no retraining" in done.stdout
    assert "retraining checker: retraining needed" in done.stdout
    report = (tmp_path / "demo" / "report.html").read_text()
    assert f"Report: {tmp_path / 'demo' / 'report.html'}" in done.stdout
    assert report.count("<svg") == 2 and report.count("<polyline") >= 3
    assert v2.version in report
