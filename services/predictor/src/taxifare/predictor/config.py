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
| PREDICTOR_READ_TIMEOUT_SECONDS | 10 | time a client has, from its first byte, to send its whole request (408 after) |
| PREDICTOR_ACTUALS_TOKEN (or _FILE) | - | when set, POST /v1/actuals needs `Authorization: Bearer <it>` |
| PREDICTOR_ACTUALS_HOLD_SECONDS | 60 | how long an actual fare waits for its prediction to be logged before it is dropped |
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from taxifare.core.config import ConfigError, Settings, read_secret


@dataclass(frozen=True)
class PredictorConfig:
    poll_seconds: float = 10.0
    max_instances: int = 1000
    max_body_bytes: int = 1 << 20
    log_queue_rows: int = 200_000
    log_batch_rows: int = 2000
    log_flush_ms: int = 200
    model_cache_dir: Path = Path(".local/model-cache")
    read_timeout_seconds: float = 10.0
    actuals_token: str | None = field(default=None, repr=False)
    actuals_hold_seconds: float = 60.0


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
        read_timeout_seconds=_number(env, "PREDICTOR_READ_TIMEOUT_SECONDS", 10.0, float, minimum=0.1),
        actuals_token=_token(env),
        actuals_hold_seconds=_number(env, "PREDICTOR_ACTUALS_HOLD_SECONDS", 60.0, float, minimum=0.0),
    )


def _token(env: Mapping[str, str]) -> str | None:
    token = read_secret("PREDICTOR_ACTUALS_TOKEN", env)
    if token is not None and (len(token) < 16 or not token.isprintable() or " " in token):
        # The value itself is never shown.
        raise ConfigError(
            "PREDICTOR_ACTUALS_TOKEN must be at least 16 printable characters without spaces "
            "(e.g. `openssl rand -hex 32`)"
        )
    return token


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
