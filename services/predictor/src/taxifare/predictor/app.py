"""The Flask app: endpoints, errors as JSON, metrics around every request."""

import atexit
import hmac
import json
import logging
import time

from flask import Flask, Response, g, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from taxifare.core import clock
from taxifare.core.config import Settings
from taxifare.core.db.engine import connect_engine
from taxifare.predictor.batch_writer import BatchWriter, WriterCounters
from taxifare.predictor.config import PredictorConfig
from taxifare.predictor.hot_swap import ModelHolder, RegistryWatcher
from taxifare.predictor.metrics import Metrics
from taxifare.predictor.openapi import openapi_spec
from taxifare.predictor.records import ActualsBatch, ActualsLog, PredictionLog, ServedBatch
from taxifare.predictor.shared_calls import SharedModelCalls
from taxifare.predictor.validation import (
    OUTER_BOUNDS,
    InputBounds,
    RequestError,
    parse_actuals_request,
    parse_json,
    parse_predict_request,
)
from taxifare.predictor.worker import ReadTimeout, timeout_message

log = logging.getLogger(__name__)

NO_MODEL_HINT = (
    "no live model yet: train one and promote it (run the taxi-fare-predictor pipeline, e.g. `make demo`, "
    "or promote a registered version with the deployer); this worker checks the registry every {poll:g} s"
)


class Runtime:
    """What one worker runs beside the app: the registry watcher and the two database writers."""

    def __init__(self, settings: Settings, config: PredictorConfig, metrics: Metrics):
        self.config = config
        self.metrics = metrics
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
        self.predictions = self._writer("predictions", self.prediction_log, metrics)
        self.actuals_log = ActualsLog(
            self.engine, config.actuals_hold_seconds, on_unmatched=metrics.actuals_unmatched.inc
        )
        self.actuals = self._writer("actuals", self.actuals_log, metrics)
        self.actuals_log.resubmit = lambda batch: self.actuals.submit(batch, len(batch.actuals))
        self._closed = False
        self._bounds: tuple[str | None, InputBounds] = (None, OUTER_BOUNDS)

    def _writer(self, table: str, log: PredictionLog | ActualsLog, metrics: Metrics) -> BatchWriter:
        counters = WriterCounters(
            on_written=metrics.logs_written.labels(table).inc,
            on_dropped=metrics.logs_dropped.labels(table).inc,
            on_error=metrics.log_write_errors.labels(table).inc,
            on_depth=metrics.log_queue_rows.labels(table).set,
            on_rejected=metrics.logs_rejected.labels(table).inc,
        )
        return BatchWriter(
            table,
            log.write,
            max_rows=self.config.log_queue_rows,
            batch_rows=self.config.log_batch_rows,
            flush_seconds=self.config.log_flush_ms / 1000,
            counters=counters,
            refused=log.refused,
            split=log.split,
        )

    def bounds_of(self, model) -> InputBounds:
        """The input bounds of `model` (the outer box without a model), worked out once per version."""
        if model is None:
            return OUTER_BOUNDS
        version, bounds = self._bounds
        if version != model.version:
            bounds = InputBounds.of_model(model.version, model.info.input_bounds)
            self._bounds = (model.version, bounds)
        return bounds

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
    app.config["TAXIFARE_READ_TIMEOUT"] = config.read_timeout_seconds  # read by worker.py
    metrics = Metrics()
    runtime = Runtime(settings, config, metrics)
    if start:
        runtime.start()
        if not _runtimes:
            atexit.register(shutdown_all)
        _runtimes.append(runtime)
    app.extensions["taxifare"] = runtime
    specs: dict[str | None, str] = {}  # by model version: the coordinate bounds follow the model
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
        response = _json({"error": e.description or e.name}, e.code or 500)
        if isinstance(e, MethodNotAllowed) and e.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(e.valid_methods))
        if isinstance(e, RequestEntityTooLarge):
            response.headers["Connection"] = "close"  # the rest of the body is never read
        return response

    @app.errorhandler(ReadTimeout)
    def _slow_client(e: ReadTimeout):
        response = _json({"error": timeout_message(config.read_timeout_seconds)}, 408)
        response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return _json({"error": "internal error; see the predictor's log"}, 500)

    def read_json_body():
        if request.mimetype != "application/json":
            return None, _json(
                {"error": f"Content-Type must be application/json, got {request.mimetype or 'none'!r}"}, 415
            )
        return parse_json(read_body(config.max_body_bytes)), None

    def authorised() -> bool:
        if config.actuals_token is None:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), config.actuals_token.encode()
        )

    @app.post("/v1/predict")
    def predict():
        payload, error = read_json_body()
        if error:
            return error
        model = runtime.holder.current  # read once: a swap during this request does not affect it
        bounds = runtime.bounds_of(model)
        trips = parse_predict_request(payload, config.max_instances, bounds)
        if model is None:
            return _json(
                {
                    "error": no_model,
                    "loading": runtime.holder.loading,
                    "last_error": runtime.holder.last_error,
                },
                503,
            )
        fares, clamped = bounds.clamp_fares(runtime.model_calls.predict(model, trips.model_inputs()))
        if clamped:
            metrics.fares_clamped.inc(clamped)
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
        if not authorised():
            response = _json(
                {"error": "actual fares need `Authorization: Bearer <token>` (PREDICTOR_ACTUALS_TOKEN)"}, 401
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="actuals"'
            return response
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
        model = runtime.holder.current
        version = model.version if model else None
        if version not in specs:
            specs[version] = json.dumps(
                openapi_spec(
                    config.max_instances,
                    config.max_body_bytes,
                    runtime.bounds_of(model),
                    token_required=config.actuals_token is not None,
                )
            )
        return Response(specs[version], mimetype="application/json")

    return app


def read_body(limit: int) -> bytes:
    """The request body, at most `limit` bytes: 413 beyond, whether it comes with a Content-Length
    or chunked; a body whose chunked framing is broken is a 400, not a 500."""
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    try:
        if length is not None:
            return request.get_data(cache=False)
        # Chunked: werkzeug would stop quietly at the limit, so read one byte past it to tell.
        body = request.environ["wsgi.input"].read(limit + 1)
    except (ParseException, NoMoreData) as e:
        raise RequestError(f"request body is malformed: {e}") from None
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
