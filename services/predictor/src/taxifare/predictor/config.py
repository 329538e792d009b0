"""The predictor's own settings, from environment variables (shared ones come from taxifare.core.config).

| variable | default | meaning |
|---|---|---|
| PREDICTOR_POLL_SECONDS | 10 | how often each worker asks the registry which version is live |
| PREDICTOR_MAX_INSTANCES | 1000 | most instances in one /v1/predict request |
| PREDICTOR_MAX_BODY_BYTES | 1048576 | largest request body; bigger ones get 413 |
| PREDICTOR_LOG_QUEUE_ROWS | 200000 | rows a worker buffers before it drops (and counts) new ones |
| PREDICTOR_LOG_BATCH_ROWS | 2000 | rows per insert |
| PREDICTOR_LOG_FLUSH_MS | 200 | longest a row waits in the buffer when traffic is light |
| PREDICTOR_MODEL_CACHE_DIR | <state>/model-cache | local copies of downloaded models |
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from taxifare.core.config import ConfigError, Settings


@dataclass(frozen=True)
class PredictorConfig:
    poll_seconds: float = 10.0
    max_instances: int = 1000
    max_body_bytes: int = 1 << 20
    log_queue_rows: int = 200_000
    log_batch_rows: int = 2000
    log_flush_ms: int = 200
    model_cache_dir: Path = Path(".local/model-cache")


def load_predictor_config(settings: Settings, env: Mapping[str, str] | None = None) -> PredictorConfig:
    env = os.environ if env is None else env
    return PredictorConfig(
        poll_seconds=_number(env, "PREDICTOR_POLL_SECONDS", 10.0, float, minimum=0.05),
        max_instances=_number(env, "PREDICTOR_MAX_INSTANCES", 1000, int, minimum=1),
        max_body_bytes=_number(env, "PREDICTOR_MAX_BODY_BYTES", 1 << 20, int, minimum=1024),
        log_queue_rows=_number(env, "PREDICTOR_LOG_QUEUE_ROWS", 200_000, int, minimum=1),
        log_batch_rows=_number(env, "PREDICTOR_LOG_BATCH_ROWS", 2000, int, minimum=1),
        log_flush_ms=_number(env, "PREDICTOR_LOG_FLUSH_MS", 200, int, minimum=1),
        model_cache_dir=Path(env.get("PREDICTOR_MODEL_CACHE_DIR") or settings.state_dir / "model-cache"),
    )


def _number(env: Mapping[str, str], name: str, default, kind, minimum):
    text = env.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a {kind.__name__}") from None
    if value < minimum:
        raise ConfigError(f"{name}={text!r} must be at least {minimum}")
    return value
