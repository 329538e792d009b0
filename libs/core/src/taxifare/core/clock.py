"""The one notion of "now".

Every time-dependent function in taxifare takes `now=None` and resolves it here, so that a simulated
clock can drive the real components through months of traffic in minutes.
"""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as naive UTC, the convention of the database (see db/tables.py)."""
    return datetime.now(UTC).replace(tzinfo=None)


def resolve(now: datetime | None) -> datetime:
    """`now` itself, or the current time when it is None; aware datetimes become naive UTC."""
    if now is None:
        return utcnow()
    if now.tzinfo is not None:
        return now.astimezone(UTC).replace(tzinfo=None)
    return now


def parse(text: str) -> datetime:
    """An ISO 8601 time from a command line or request, as naive UTC; a clear error otherwise."""
    try:
        return resolve(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2024-05-01T12:00:00)") from None
