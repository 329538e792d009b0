"""The Flask app: endpoints, errors as JSON, metrics around every request."""

import atexit
import json
import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from taxifare.core import clock
from taxifare.core.config import Settings
from taxifare.core.db.engine import connect_engine
from taxifare.predictor.batch_writer import BatchWriter, WriterCounters
from taxifare.predictor.config import PredictorConfig
from taxifare.predictor.hot_swap import ModelHolder, RegistryWatcher
from taxifare.predictor.metrics import Metrics
from taxifare.predictor.openapi import openapi_spec
from taxifare.predictor.records import ActualsBatch, PredictionLog, ServedBatch, write_actuals
from taxifare.predictor.shared_calls import SharedModelCalls
from taxifare.predictor.validation import (
    RequestError,
    parse_actuals_request,
    parse_json,
    parse_predict_request,
)

log = logging.getLogger(__name__)

NO_MODEL_HINT = (
    "no live model yet: train one and promote it (run the taxi-fare-predictor pipeline, e.g. `make demo`, "
    "or promote a registered version with the deployer); this worker checks the registry every {poll:g} s"
)


class Runtime:
    """What one worker runs beside the app: the registry watcher and the two database writers."""

    def __init__(self, settings: Settings, config: PredictorConfig, metrics: Metrics):
        self.config = config
        self.engine = connect_engine(settings.database_url)
        self.holder = ModelHolder()
        self.model_calls = SharedModelCalls(max_rows=config.max_instances, on_call=metrics.model_calls.inc)
        self.watcher = RegistryWatcher(
            self.engine,
            self.holder,
            config.model_cache_dir,
            config.poll_seconds,
            on_load=lambda outcome: metrics.model_loads.labels(outcome).inc(),
        )
        self.prediction_log = PredictionLog(self.engine)
        self.predictions = self._writer("predictions", self.prediction_log.write, metrics)
        self.actuals = self._writer("actuals", lambda chunks: write_actuals(self.engine, chunks), metrics)
        self._closed = False

    def _writer(self, table: str, write, metrics: Metrics) -> BatchWriter:
        counters = WriterCounters(
            on_written=metrics.logs_written.labels(table).inc,
            on_dropped=metrics.logs_dropped.labels(table).inc,
            on_error=metrics.log_write_errors.labels(table).inc,
            on_depth=metrics.log_queue_rows.labels(table).set,
        )
        return BatchWriter(
            table,
            write,
            max_rows=self.config.log_queue_rows,
            batch_rows=self.config.log_batch_rows,
            flush_seconds=self.config.log_flush_ms / 1000,
            counters=counters,
        )

    def start(self) -> "Runtime":
        self.predictions.start()
        self.actuals.start()
        self.watcher.start()
        return self

    def shutdown(self, timeout: float = 20.0) -> int:
        """Stop watching and write every buffered row; returns the rows that could not be written."""
        if self._closed:
            return 0
        self._closed = True
        self.watcher.stop()
        lost = self.predictions.close(timeout) + self.actuals.close(timeout)
        self.engine.dispose()
        log.info("predictor worker stopped", extra={"lost_rows": lost})
        return lost


_runtimes: list[Runtime] = []


def shutdown_all(timeout: float = 20.0) -> int:
    """Flush and stop every runtime of this process (gunicorn's worker_exit hook and atexit call it)."""
    return sum(runtime.shutdown(timeout) for runtime in _runtimes)


def create_app(settings: Settings, config: PredictorConfig, start: bool = True) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    metrics = Metrics()
    runtime = Runtime(settings, config, metrics)
    if start:
        runtime.start()
        if not _runtimes:
            atexit.register(shutdown_all)
        _runtimes.append(runtime)
    app.extensions["taxifare"] = runtime
    spec = json.dumps(openapi_spec(config.max_instances, config.max_body_bytes))
    no_model = NO_MODEL_HINT.format(poll=config.poll_seconds)

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        count, observe = metrics.request_counters(endpoint, response.status_code)
        count()
        observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(RequestError)
    def _bad_request(e: RequestError):
        return _json(e.to_json(), 400)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        return _json({"error": e.description or e.name}, e.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return _json({"error": "internal error; see the predictor's log"}, 500)

    def read_json_body():
        if request.mimetype != "application/json":
            return None, _json(
                {"error": f"Content-Type must be application/json, got {request.mimetype or 'none'!r}"}, 415
            )
        # get_data enforces MAX_CONTENT_LENGTH (413), also for bodies sent without Content-Length
        return parse_json(request.get_data(cache=False)), None

    @app.post("/v1/predict")
    def predict():
        payload, error = read_json_body()
        if error:
            return error
        trips = parse_predict_request(payload, config.max_instances)
        model = runtime.holder.current  # read once: a swap during this request does not affect it
        if model is None:
            return _json(
                {
                    "error": no_model,
                    "loading": runtime.holder.loading,
                    "last_error": runtime.holder.last_error,
                },
                503,
            )
        fares = runtime.model_calls.predict(model, trips.model_inputs())
        served = ServedBatch(clock.utcnow(), model.version, trips, fares)
        runtime.predictions.submit(runtime.prediction_log.encode(served), len(trips))
        metrics.predicted(model.version, len(trips))
        return _json(
            {
                "predictions": [round(float(f), 4) for f in fares],
                "request_ids": trips.request_ids,
                "model_version": model.version,
            }
        )

    @app.post("/v1/actuals")
    def actuals():
        payload, error = read_json_body()
        if error:
            return error
        parsed = parse_actuals_request(payload, config.max_instances)
        accepted = runtime.actuals.submit(ActualsBatch(clock.utcnow(), parsed), len(parsed))
        if not accepted:
            return _json({"error": "actuals buffer full (database down or slow); retry later"}, 503)
        return _json({"accepted": len(parsed)}, 202)

    @app.get("/healthz")
    def healthz():
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        model = runtime.holder.current
        if model is None:
            return _json(
                {"status": "not ready", "reason": no_model, "last_error": runtime.holder.last_error}, 503
            )
        return _json({"status": "ready", "model_version": model.version})

    @app.get("/v1/models")
    def models():
        model = runtime.holder.current
        live = None
        if model is not None:
            live = {
                "version": model.version,
                "model_uri": model.info.model_uri,
                "promoted_at": model.info.promoted_at.isoformat() if model.info.promoted_at else None,
                "loaded_at": model.loaded_at.isoformat(),
                "metrics": model.info.metrics,
            }
        return _json(
            {"live": live, "loading": runtime.holder.loading, "last_error": runtime.holder.last_error}
        )

    @app.get("/metrics")
    def prometheus():
        return Response(metrics.exposition(), mimetype="text/plain; version=0.0.4")

    @app.get("/openapi.json")
    def openapi():
        return Response(spec, mimetype="application/json")

    return app


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
