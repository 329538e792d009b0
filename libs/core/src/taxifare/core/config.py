"""Configuration from environment variables, with defaults for the embedded mode (one machine).

| variable | default | meaning |
|---|---|---|
| TAXIFARE_STATE_DIR | ./.local | where the embedded mode keeps its database, data and models |
| DATABASE_URL | sqlite:///<state>/taxifare.db | SQLAlchemy URL (postgresql://user@host:port/db in production) |
| DATABASE_PASSWORD | - | password for a DATABASE_URL given without one |
| DATA_URI | <state>/data | trip data store: a folder or gs://bucket/prefix |
| MODEL_STORE_URI | <state>/models | model store: a folder or gs://bucket/prefix |
| LOG_LEVEL | INFO | |

Any secret may instead come from a file named by `NAME_FILE` (Docker and Kubernetes secrets).
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

SECRET_NAMES = ("DATABASE_URL", "DATABASE_PASSWORD", "KFP_TOKEN", "PREDICTOR_ACTUALS_TOKEN")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    database_url: str
    data_uri: str
    model_store_uri: str
    log_level: str

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    def __repr__(self) -> str:
        return (
            f"Settings(state_dir={str(self.state_dir)!r}, database_url={mask_url(self.database_url)!r}, "
            f"data_uri={self.data_uri!r}, model_store_uri={self.model_store_uri!r})"
        )


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of `name`, or the content of the file named by `name_FILE`, or None."""
    env = os.environ if env is None else env
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as e:
        raise ConfigError(f"{name}_FILE={path!r} cannot be read: {e.strerror}") from None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    state_dir = Path(env.get("TAXIFARE_STATE_DIR") or ".local").resolve()
    database_url = read_secret("DATABASE_URL", env) or f"sqlite:///{state_dir / 'taxifare.db'}"
    return Settings(
        state_dir=state_dir,
        database_url=_with_password(database_url, read_secret("DATABASE_PASSWORD", env)),
        data_uri=env.get("DATA_URI") or str(state_dir / "data"),
        model_store_uri=env.get("MODEL_STORE_URI") or str(state_dir / "models"),
        log_level=env.get("LOG_LEVEL") or "INFO",
    )


def _with_password(url: str, password: str | None) -> str:
    try:
        parsed = make_url(url)
    except Exception:
        # The value itself is not shown: a malformed URL may still hold a password.
        raise ConfigError(
            "DATABASE_URL is not a database URL (expected e.g. postgresql://user@host:5432/db "
            "or sqlite:///path/to/file.db)"
        ) from None
    if password and parsed.username and not parsed.password:
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)@")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


def mask_secrets_in(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` with URL passwords and the values of known secret variables replaced by ***."""
    text = mask_url(text)
    env = os.environ if env is None else env
    for name in SECRET_NAMES:
        value = env.get(name)
        if value and len(value) >= 4 and name != "DATABASE_URL":
            text = text.replace(value, "***")
    return text
