"""Following the registry: load the live version in the background and swap it in at once.

A request reads `holder.current` once and uses that model to the end, so a swap (one attribute
assignment) never disturbs requests in flight. A version that fails to load is reported and retried
with backoff while the previous model keeps serving.
"""

import gc
import logging
import threading
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from taxifare.core.db import registry
from taxifare.predictor.model import LoadedModel, ModelLoadError, ModelVersion, load_model

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 300.0


class ModelHolder:
    def __init__(self):
        self.current: LoadedModel | None = None
        self.loading: str | None = None
        self.last_error: str | None = None


def fetch_live_version(engine: sa.Engine) -> ModelVersion | None:
    """The registry's live version with its metrics, or None when nothing is live yet."""
    with engine.connect() as conn:
        row = registry.live_version(conn)
        if row is None:
            return None
        metrics = registry.training_metrics_of(conn, row.version)
    for name in ("eval_rmse", "eval_mae"):
        if getattr(row, name) is not None:
            metrics.setdefault(name.removeprefix("eval_"), getattr(row, name))
    return ModelVersion(row.version, row.model_uri, row.promoted_at, metrics, row.input_bounds)


class RegistryWatcher:
    def __init__(
        self,
        engine: sa.Engine,
        holder: ModelHolder,
        cache_dir: Path,
        poll_seconds: float,
        on_load=lambda outcome: None,
    ):
        self._engine = engine
        self._holder = holder
        self._cache_dir = cache_dir
        self._poll_seconds = poll_seconds
        self._on_load = on_load
        self._stop = threading.Event()
        self._failed: dict[str, tuple[int, float]] = {}  # version -> (failures, retry at)
        self._said_nothing_live = False
        self._thread = threading.Thread(target=self._run, name="registry-watcher", daemon=True)

    def start(self) -> "RegistryWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the watcher must outlive any surprise; the old model keeps serving
                log.exception("registry watcher failed; retrying at the next poll")
            self._stop.wait(self._poll_seconds)

    def poll_once(self, now: datetime | None = None) -> None:
        try:
            live = fetch_live_version(self._engine)
        except sa.exc.SQLAlchemyError as e:
            log.warning("cannot read the model registry, keeping the current model: %s", e.__class__.__name__)
            return
        if live is None:
            if not self._said_nothing_live:
                log.warning(
                    "no live model in the registry yet; /v1/predict answers 503 until one is promoted"
                )
                self._said_nothing_live = True
            return
        current = self._holder.current
        if current is not None and current.version == live.version:
            return
        failures, retry_at = self._failed.get(live.version, (0, 0.0))
        if time.monotonic() < retry_at:
            return
        self._load(live, failures, now)

    def _load(self, live: ModelVersion, failures: int, now: datetime | None) -> None:
        self._holder.loading = live.version
        started = time.monotonic()
        try:
            model = load_model(live, self._cache_dir, now=now)
        except ModelLoadError as e:
            wait = min(self._poll_seconds * 2 ** (failures + 1), MAX_RETRY_SECONDS)
            self._failed[live.version] = (failures + 1, time.monotonic() + wait)
            self._holder.last_error = str(e)
            kept = self._holder.current.version if self._holder.current else None
            log.error(
                "%s; still serving %s, retrying in %.0f s", e, kept, wait, extra={"version": live.version}
            )
            self._on_load("failed")
            return
        finally:
            self._holder.loading = None
        previous = self._holder.current
        self._holder.current = model
        self._holder.last_error = None
        self._failed.pop(live.version, None)
        log.info(
            "now serving model %s (was %s), loaded in %.2f s",
            live.version,
            previous.version if previous else None,
            time.monotonic() - started,
            extra={"version": live.version},
        )
        self._on_load("ok")
        settle_garbage_collector()


def settle_garbage_collector() -> None:
    """Exempt what is loaded now (TensorFlow, the model: ~400k objects) from garbage collection.

    A full collection of a worker with TensorFlow loaded takes ~150 ms, during which no request
    runs; frozen objects are not scanned, so collections stay short. Run after each load: unfreezing
    first lets the collection free the previous model, at the price of that one pause per load.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
