"""The real predictor under gunicorn, on SQLite and on Postgres."""

import json
import threading
import time
from collections import Counter

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from taxifare.core.db import tables
from taxifare.core.db.engine import connect_engine

from .conftest import TRIP

pytestmark = pytest.mark.slow


def predict(server, instances, **kwargs):
    return requests.post(server.url + "/v1/predict", json={"instances": instances}, timeout=30, **kwargs)


def wait_for(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.1)


class Traffic:
    """Clients posting small batches until stopped; remembers every status and served version."""

    def __init__(self, server, clients: int = 3, batch: int = 5):
        self.server, self.batch = server, batch
        self.statuses: Counter = Counter()
        self.versions: list[str] = []
        self.served_rows = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                response = session.post(
                    self.server.url + "/v1/predict", json={"instances": [TRIP] * self.batch}, timeout=30
                )
            except requests.RequestException as e:
                with self._lock:
                    self.errors.append(repr(e))
                if self._stop.wait(0.05):
                    return
                continue
            with self._lock:
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.versions.append(response.json()["model_version"])
                    self.served_rows += self.batch


def test_serves_logs_and_records_actuals(registry, tiny_model_dirs, start_predictor):
    server = start_predictor()
    response = predict(server, [TRIP])
    assert response.status_code == 503
    assert "promote" in response.json()["error"]
    assert requests.get(server.url + "/readyz", timeout=10).status_code == 503

    registry.register("v1", tiny_model_dirs["a"], status="live", rmse=4.2)
    server.wait_until("/readyz", 200, all_workers=True)

    single = predict(server, [{**TRIP, "request_id": "trip-1"}])
    assert single.status_code == 200, single.text
    body = single.json()
    assert body["model_version"] == "v1" and body["request_ids"] == ["trip-1"]
    far = {**TRIP, "dropoff_longitude": -73.70}
    batch = predict(server, [TRIP, far, TRIP])
    fares = batch.json()["predictions"]
    assert len(fares) == 3 and fares[0] == fares[2] < fares[1]
    assert fares[0] == pytest.approx(body["predictions"][0])

    actuals = requests.post(
        server.url + "/v1/actuals",
        json={"actuals": [{"request_id": "trip-1", "fare_amount": 9.5}]},
        timeout=10,
    )
    assert actuals.status_code == 202
    wait_for(
        lambda: registry.count(tables.predictions) == 4 and registry.count(tables.actuals) == 1, what="logs"
    )
    logged = {row.request_id: row for row in registry.rows(tables.predictions)}
    assert logged["trip-1"].model_version == "v1"
    assert logged["trip-1"].prediction == pytest.approx(body["predictions"][0], abs=1e-3)
    assert logged["trip-1"].pickup_hour == 18 and logged["trip-1"].passenger_count == 2
    assert 9 < logged["trip-1"].distance_km < 10
    assert registry.rows(tables.actuals)[0].fare_amount == 9.5

    models = requests.get(server.url + "/v1/models", timeout=10).json()
    assert models["live"]["version"] == "v1" and models["live"]["metrics"]["rmse"] == 4.2
    assert server.metric("taxifare_predictor_predictions_total", model_version="v1") == 4
    assert server.metric("taxifare_predictor_logs_written_total", table="predictions") == 4
    assert (
        server.metric("taxifare_predictor_request_seconds_count", endpoint="/v1/predict", status="200") == 2
    )
    spec = requests.get(server.url + "/openapi.json", timeout=10).json()
    assert {"/v1/predict", "/v1/actuals", "/readyz", "/metrics"} <= set(spec["paths"])
    assert server.stop() == 0


def _bad_requests(max_instances: int, max_body: int) -> list[tuple[str, dict, int, str]]:
    """(name, requests.post kwargs, expected status, words in the message)."""
    as_json = {"Content-Type": "application/json"}

    def instances(*items):
        return {"data": json.dumps({"instances": list(items)}), "headers": as_json}

    return [
        ("malformed JSON", {"data": '{"instances": [', "headers": as_json}, 400, "not valid JSON"),
        ("wrong type", instances({**TRIP, "pickup_latitude": "north"}), 400, "pickup_latitude"),
        ("missing field", instances({k: v for k, v in TRIP.items() if k != "passenger_count"}), 400, "required"),
        ("NaN", {"data": json.dumps({"instances": [{**TRIP, "pickup_longitude": float("nan")}]}),
                 "headers": as_json}, 400, "NaN"),
        ("Infinity", {"data": json.dumps({"instances": [{**TRIP, "dropoff_latitude": float("inf")}]}),
                      "headers": as_json}, 400, "Infinity"),
        ("out-of-range coordinate", instances({**TRIP, "pickup_longitude": 2.35}), 400, "outside"),
        ("negative passengers", instances({**TRIP, "passenger_count": -2}), 400, "passenger_count"),
        ("empty instances", instances(), 400, "empty"),
        ("too many instances", instances(*[TRIP] * (max_instances + 1)), 400, f"at most {max_instances}"),
        ("huge body", {"data": b" " * (max_body + 1), "headers": as_json}, 413, ""),
        ("wrong content type", {"data": json.dumps({"instances": [TRIP]}), "headers": {"Content-Type": "text/plain"}},
         415, "application/json"),
        ("no body", {"headers": as_json}, 400, "not valid JSON"),
        ("not an object", {"json": [TRIP]}, 400, "instances"),
    ]  # fmt: skip


def test_bad_inputs_get_4xx_and_nothing_is_logged(registry, tiny_model_dirs, start_predictor):
    server = start_predictor(workers=1, PREDICTOR_MAX_INSTANCES="50", PREDICTOR_MAX_BODY_BYTES="65536")
    registry.register("v1", tiny_model_dirs["a"], status="live")
    server.wait_until("/readyz", 200, all_workers=True)
    for name, kwargs, status, words in _bad_requests(50, 65536):
        response = requests.post(server.url + "/v1/predict", timeout=30, **kwargs)
        assert response.status_code == status, (name, response.text)
        message = json.dumps(response.json())
        assert words in message, (name, message)
    bad_actual = requests.post(
        server.url + "/v1/actuals", json={"actuals": [{"request_id": "x"}]}, timeout=10
    )
    assert bad_actual.status_code == 400 and "fare_amount" in bad_actual.text
    assert requests.get(server.url + "/nowhere", timeout=10).status_code == 404
    time.sleep(0.5)  # longer than the flush interval: anything buffered would be written by now
    assert registry.count(tables.predictions) == 0 and registry.count(tables.actuals) == 0
    assert server.metric("taxifare_predictor_requests_total", status="500") == 0
    assert server.stop() == 0


def test_promotion_under_traffic_then_graceful_shutdown_loses_no_rows(
    registry, tiny_model_dirs, start_predictor, tmp_path
):
    # A long flush interval and large batches keep every row buffered until the shutdown flush.
    server = start_predictor(PREDICTOR_LOG_FLUSH_MS="600000", PREDICTOR_LOG_BATCH_ROWS="1000000")
    registry.register("v1", tiny_model_dirs["a"], status="live")
    registry.register("v2", tiny_model_dirs["b"])
    server.wait_until("/readyz", 200, all_workers=True)
    with Traffic(server) as traffic:
        wait_for(lambda: len(traffic.versions) > 20, what="traffic on v1")
        registry.promote("v2")
        wait_for(lambda: traffic.versions[-30:].count("v2") == 30, what="all workers on v2")
        # A version that cannot load is reported, and the workers keep serving the one they have.
        registry.register_broken("v3", tmp_path)
        registry.promote("v3")
        server.wait_until(
            "/v1/models",
            200,
            timeout=30,
            all_workers=True,
            body=lambda models: "v3" in (models["last_error"] or ""),
        )
        seen = len(traffic.versions)
        wait_for(lambda: len(traffic.versions) > seen + 20, what="traffic after the failed load")
        failed_loads = server.metric("taxifare_predictor_model_loads_total", outcome="failed")
        models = requests.get(server.url + "/v1/models", timeout=10).json()
        statuses_before_stop, errors_before_stop = dict(traffic.statuses), list(traffic.errors)
        assert registry.count(tables.predictions) == 0  # all still buffered
        assert server.stop() == 0  # SIGTERM while the clients keep sending
    assert errors_before_stop == [] and set(statuses_before_stop) == {200}, (
        statuses_before_stop,
        errors_before_stop,
    )
    assert traffic.versions[0] == "v1" and traffic.versions[-1] == "v2" and "v3" not in traffic.versions
    assert models["live"]["version"] == "v2" and "v3" in models["last_error"] and failed_loads >= 1
    assert registry.count(tables.predictions) == traffic.served_rows


class DatabaseOutage:
    """Make the predictor's database refuse it, then come back, without touching the predictor."""

    def __init__(self, database_url: str):
        self.url = make_url(database_url)
        self._lock_conn = None

    def begin(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            self._postgres(allow=False)
        else:
            # An exclusive lock held elsewhere: every write waits out its busy timeout, then fails.
            engine = connect_engine(self.url.render_as_string(hide_password=False))
            self._lock_conn = engine.connect().execution_options(sqlite_begin="EXCLUSIVE")
            self._lock_conn.begin()

    def end(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.rollback()
            self._lock_conn.close()
        else:
            self._postgres(allow=True)

    def _postgres(self, allow: bool) -> None:
        name = self.url.database
        admin = connect_engine(
            self.url.set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
            if not allow:
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                )
        admin.dispose()


def test_database_outage_keeps_serving_and_logs_arrive_after(registry, tiny_model_dirs, start_predictor):
    server = start_predictor(PREDICTOR_LOG_QUEUE_ROWS="300")
    registry.register("v1", tiny_model_dirs["a"], status="live")
    server.wait_until("/readyz", 200, all_workers=True)
    outage = DatabaseOutage(registry.engine.url.render_as_string(hide_password=False))
    registry.engine.dispose()
    with Traffic(server, clients=2, batch=10) as traffic:
        wait_for(lambda: traffic.served_rows > 100, what="traffic")
        outage.begin()
        try:
            wait_for(
                lambda: server.metric("taxifare_predictor_logs_dropped_total") > 0, timeout=60, what="drops"
            )
            if outage.url.get_backend_name() == "postgresql":  # SQLite writers wait out the lock instead
                wait_for(
                    lambda: server.metric("taxifare_predictor_log_write_errors_total") > 0,
                    timeout=30,
                    what="failed writes counted",
                )
            served_during = traffic.served_rows
            time.sleep(1.0)
            assert traffic.served_rows > served_during, "serving stopped while the database was down"
        finally:
            outage.end()
        written = server.metric("taxifare_predictor_logs_written_total", table="predictions")
        wait_for(
            lambda: (
                server.metric("taxifare_predictor_logs_written_total", table="predictions") > written + 300
            ),
            what="buffered logs written after the outage",
        )
    assert set(traffic.statuses) == {200} and traffic.errors == [], (traffic.statuses, traffic.errors[:3])
    dropped = server.metric("taxifare_predictor_logs_dropped_total", table="predictions")
    assert server.stop() == 0
    # Every served row is either in the table or counted as dropped, none silently lost.
    assert registry.count(tables.predictions) + dropped == traffic.served_rows
