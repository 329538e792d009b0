"""deploy and rollback: change which version is live, only ever to a model whose artifact is intact."""

from datetime import datetime

import sqlalchemy as sa

from taxifare.core import storage
from taxifare.core.db import registry


class DeployError(Exception):
    """The requested promotion or rollback was refused; the registry is unchanged."""


def deploy(engine: sa.Engine, version: str, now: datetime | None = None) -> str:
    """Make `version` live (idempotent); returns a one-line account of what happened."""
    with engine.connect() as conn:
        row = registry.get_version(conn, version)
    if row is None:
        raise DeployError(f"no model version {version!r} in the registry")
    if row.status == "live":
        return f"{version} is already live; nothing changed"
    _verify_artifact(row)
    try:
        with engine.connect() as conn:
            retired = registry.promote(conn, version, now=now)
    except registry.RegistryError as e:
        raise DeployError(f"refusing to deploy {version}: {e}") from None
    if retired is None:
        return f"{version} is live (there was no live version before)"
    return f"{version} is live; {retired.version} is retired"


def rollback(engine: sa.Engine, now: datetime | None = None) -> str:
    """Make the previous live version live again; the current one becomes rejected."""
    with engine.connect() as conn:
        current = registry.live_version(conn)
        previous = registry.previous_live(conn)
    if current is None:
        raise DeployError("there is no live version to roll back")
    if previous is None:
        raise DeployError(
            f"{current.version} is the only version ever live; there is no previous version to roll back to"
        )
    _verify_artifact(previous)
    try:
        with engine.connect() as conn:
            gone, back = registry.rollback(conn, now=now, expected=previous.version)
    except registry.RegistryError as e:
        raise DeployError(f"cannot roll back: {e}") from None
    return f"rolled back: {back.version} is live again; {gone.version} is rejected"


def _verify_artifact(row: sa.Row) -> None:
    try:
        storage.verify_published(row.model_uri)
    except storage.StorageError as e:
        raise DeployError(
            f"refusing to make {row.version} live: its model artifact is not intact ({e}); "
            "the registry is unchanged"
        ) from None
