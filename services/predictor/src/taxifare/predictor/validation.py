"""Parsing and checking request bodies, with one message per bad field.

This runs on every request, so it works on plain lists instead of building a DataFrame; the arrays it
returns are exactly what `taxifare.core.trips.model_inputs` would make of the same trips.
"""

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

EPOCH = datetime(1970, 1, 1)
# The bounds the trip loaders keep when cleaning data: no model ever saw anything outside them. A
# model's own training bounds (InputBounds) are narrower; these apply to versions registered
# without them.
LONGITUDE_RANGE = (-78.0, -70.0)
LATITUDE_RANGE = (37.0, 45.0)
PASSENGER_RANGE = (1, 6)
YEAR_RANGE = (2000, 2100)
# A served fare is never below the lowest initial charge of any NYC yellow-cab rate card, nor above
# the dearest fare the model was trained on (this ceiling for versions registered without bounds).
MIN_FARE = 2.5
MAX_FARE = 1000.0
# A model accepts trips anywhere within this margin of the area it was trained on (about 125 km
# east-west and 165 km north-south at NYC's latitude: the whole metro area around it). Drift is
# longer trips and more airport runs, and the drift checks must see it, so only points far beyond
# anything the model saw are refused: of 20 million trips of the synthetic drift scenarios, none lay
# 1.25 degrees beyond a 1000-trip training window. Served fares go up to this many times the
# dearest one it saw.
BOUNDS_MARGIN_DEGREES = 1.5
FARE_CEILING_FACTOR = 2.0
FARE_RANGE = (0.0, 10_000.0)  # accepted actual fares
# Matched whole (fullmatch): `$` in a pattern would also accept a final newline.
REQUEST_ID_PATTERN = r"[A-Za-z0-9._:-]{1,64}"
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
REQUEST_ID_RULE = "must be 1-64 characters of letters, digits, . _ : -"
# ISO 8601 local time in YEAR_RANGE: a real calendar date, then optionally T or space and a time.
# The OpenAPI document carries this pattern, so it admits exactly what the parser does: each month's
# own length, and 29 February in leap years only (2000 is one, 2100 is not).
_YEAR = "(20[0-9]{2}|2100)"
_LEAP_YEAR = "20(0[048]|[2468][048]|[13579][26])"
_MONTH_DAY = (
    "(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"  # 31 days
    "|(0[469]|11)-(0[1-9]|[12][0-9]|30)"  # 30 days
    "|02-(0[1-9]|1[0-9]|2[0-8])"
)
_DATE = f"({_YEAR}-({_MONTH_DAY})|{_LEAP_YEAR}-02-29)"
_TIME = "([01][0-9]|2[0-3])(:[0-5][0-9](:[0-5][0-9]([.,][0-9]{1,6})?)?)?"
DATETIME_PATTERN = f"{_DATE}([T ]{_TIME})?"
DATETIME = re.compile(DATETIME_PATTERN)
MAX_ERRORS_SHOWN = 20

COORDINATE_FIELDS = {
    "pickup_longitude": LONGITUDE_RANGE,
    "pickup_latitude": LATITUDE_RANGE,
    "dropoff_longitude": LONGITUDE_RANGE,
    "dropoff_latitude": LATITUDE_RANGE,
}
REQUIRED_FIELDS = ("pickup_datetime", *COORDINATE_FIELDS, "passenger_count")
INSTANCE_FIELDS = (*REQUIRED_FIELDS, "request_id")
TRIP_COLUMNS = (*COORDINATE_FIELDS, "passenger_count")


@dataclass(frozen=True)
class InputBounds:
    """What one model may be asked (the area of its training data, widened) and the fares it serves."""

    coordinates: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(COORDINATE_FIELDS))
    fares: tuple[float, float] = (MIN_FARE, MAX_FARE)
    source: str = "the area every model is trained on"

    @classmethod
    def of_model(cls, version: str, stored: Mapping | None) -> "InputBounds":
        """The area of the training data stored with a model version (`model_versions.input_bounds`),
        one box for pickups and dropoffs alike, widened by the margin and kept inside the outer box;
        the outer box for a version registered without them."""
        if not stored:
            return cls()
        margin = BOUNDS_MARGIN_DEGREES
        area = {}
        for axis in ("longitude", "latitude"):
            seen = [pair for end in ("pickup", "dropoff") if (pair := _pair(stored.get(f"{end}_{axis}")))]
            if seen:
                area[axis] = (min(low for low, _ in seen) - margin, max(high for _, high in seen) + margin)
        coordinates = {}
        for name, (outer_low, outer_high) in COORDINATE_FIELDS.items():
            low, high = area.get(name.split("_")[1], (outer_low, outer_high))
            coordinates[name] = (max(outer_low, round(low, 4)), min(outer_high, round(high, 4)))
        fares = _pair(stored.get("fare_amount"))
        top = max(MIN_FARE, round(fares[1] * FARE_CEILING_FACTOR, 2)) if fares else MAX_FARE
        source = f"the area model {version!r} was trained on, with {margin:g} degrees around it"
        return cls(coordinates, (MIN_FARE, top), source)

    def clamp_fares(self, fares: np.ndarray) -> tuple[np.ndarray, int]:
        """(fares kept within `self.fares`, how many were not): a fare outside what a ride can cost
        says the model is wrong there, not the rate card."""
        low, high = self.fares
        clamped = int(np.count_nonzero((fares < low) | (fares > high) | np.isnan(fares)))
        if not clamped:
            return fares, 0
        return np.clip(np.nan_to_num(fares, nan=low), low, high), clamped


def _pair(value) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(map(_is_finite, value)):
        return None
    low, high = float(value[0]), float(value[1])
    return (low, high) if low <= high else None


def _is_finite(value) -> bool:
    return _is_number(value) and math.isfinite(value)


OUTER_BOUNDS = InputBounds()


class RequestError(ValueError):
    """A request body that cannot be served; `details` lists {field, message} for each problem."""

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_json(self) -> dict:
        body = {"error": self.message}
        if self.details:
            body["details"] = self.details[:MAX_ERRORS_SHOWN]
            if len(self.details) > MAX_ERRORS_SHOWN:
                body["details_omitted"] = len(self.details) - MAX_ERRORS_SHOWN
        return body


@dataclass
class TripBatch:
    """Validated instances, column by column."""

    request_ids: list[str]
    pickup_datetimes: list[datetime]
    columns: dict[str, list]  # coordinates and passenger_count, as given

    def __len__(self) -> int:
        return len(self.request_ids)

    def model_inputs(self) -> dict[str, np.ndarray]:
        seconds = [(t - EPOCH).total_seconds() for t in self.pickup_datetimes]
        inputs = {"pickup_timestamp": np.asarray(seconds, dtype=np.float64)}
        for name, values in self.columns.items():
            inputs[name] = np.asarray(values, dtype=np.float32)
        return inputs


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON; send finite numbers")


def parse_json(body: bytes):
    """The decoded body; NaN and Infinity, which Python's json accepts, are refused."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise RequestError("body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(f"body is not valid JSON: {e}") from None


def parse_predict_request(payload, max_instances: int, bounds: InputBounds = OUTER_BOUNDS) -> TripBatch:
    if not isinstance(payload, dict) or "instances" not in payload:
        raise RequestError('body must be a JSON object {"instances": [{...trip...}, ...]}')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise RequestError('"instances" must be a list of trip objects')
    if not instances:
        raise RequestError('"instances" is empty: send at least one trip')
    if len(instances) > max_instances:
        raise RequestError(
            f'"instances" has {len(instances)} trips; at most {max_instances} per request, split the batch'
        )
    errors: list[dict] = []
    batch = TripBatch([], [], {name: [] for name in TRIP_COLUMNS})
    for i, instance in enumerate(instances):
        _parse_instance(instance, f"instances[{i}]", batch, errors, bounds)
    if errors:
        raise RequestError("invalid instances", errors)
    return batch


def _parse_instance(instance, where: str, batch: TripBatch, errors: list[dict], bounds: InputBounds) -> None:
    if not isinstance(instance, dict):
        errors.append({"field": where, "message": "must be an object of trip fields"})
        return
    before = len(errors)
    for name in instance.keys() - set(INSTANCE_FIELDS):
        errors.append(
            {"field": f"{where}.{name}", "message": f"unknown field; allowed: {list(INSTANCE_FIELDS)}"}
        )
    for name in REQUIRED_FIELDS:
        if name not in instance:
            errors.append({"field": f"{where}.{name}", "message": "is required"})
    if len(errors) > before:
        return

    pickup = _parse_datetime(instance["pickup_datetime"], f"{where}.pickup_datetime", errors)
    values = {}
    for name, (low, high) in bounds.coordinates.items():
        value = instance[name]
        if not _is_number(value):
            errors.append({"field": f"{where}.{name}", "message": f"must be a number, got {_kind(value)}"})
        elif not low <= value <= high:
            errors.append(
                {
                    "field": f"{where}.{name}",
                    "message": f"{value} is outside [{low}, {high}], {bounds.source}",
                }
            )
        else:
            values[name] = value
    passengers = instance["passenger_count"]
    low, high = PASSENGER_RANGE
    if isinstance(passengers, bool) or not isinstance(passengers, int):
        errors.append(
            {"field": f"{where}.passenger_count", "message": f"must be an integer, got {_kind(passengers)}"}
        )
    elif not low <= passengers <= high:
        errors.append(
            {"field": f"{where}.passenger_count", "message": f"{passengers} is outside [{low}, {high}]"}
        )
    if "request_id" not in instance:
        request_id = uuid.uuid4().hex
    else:
        request_id = instance["request_id"]
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            errors.append({"field": f"{where}.request_id", "message": f"{REQUEST_ID_RULE} (or left out)"})
    if len(errors) > before:
        return
    batch.request_ids.append(request_id)
    batch.pickup_datetimes.append(pickup)
    for name, value in values.items():
        batch.columns[name].append(value)
    batch.columns["passenger_count"].append(passengers)


def _parse_datetime(value, field: str, errors: list[dict]) -> datetime | None:
    if not isinstance(value, str):
        errors.append({"field": field, "message": f"must be an ISO 8601 string, got {_kind(value)}"})
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        errors.append(
            {"field": field, "message": "must be the local NYC time as the meter shows it, no offset"}
        )
        return None
    # fromisoformat also reads forms the OpenAPI pattern does not admit (20150630, 2015-W27-2).
    if parsed is None or not DATETIME.fullmatch(value):
        errors.append({"field": field, "message": f"{value!r} is not an ISO 8601 time (2015-06-30T18:05:00)"})
        return None
    if not YEAR_RANGE[0] <= parsed.year <= YEAR_RANGE[1]:
        errors.append({"field": field, "message": f"year {parsed.year} is outside {list(YEAR_RANGE)}"})
        return None
    return parsed


def _is_number(value) -> bool:
    # json.loads gives int or float; bool is an int subclass but never a coordinate
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def parse_actuals_request(payload, max_instances: int) -> list[tuple[str, float]]:
    """[(request_id, fare_amount)] from {"actuals": [{"request_id": ..., "fare_amount": ...}, ...]}."""
    if not isinstance(payload, dict) or not isinstance(payload.get("actuals"), list):
        raise RequestError(
            'body must be a JSON object {"actuals": [{"request_id": ..., "fare_amount": ...}]}'
        )
    actuals = payload["actuals"]
    if not actuals:
        raise RequestError('"actuals" is empty: send at least one')
    if len(actuals) > max_instances:
        raise RequestError(f'"actuals" has {len(actuals)} items; at most {max_instances} per request')
    errors, parsed = [], []
    for i, item in enumerate(actuals):
        where = f"actuals[{i}]"
        if not isinstance(item, dict):
            errors.append({"field": where, "message": "must be an object"})
            continue
        request_id, fare = item.get("request_id"), item.get("fare_amount")
        ok = True
        for name in item.keys() - {"request_id", "fare_amount"}:
            errors.append(
                {"field": f"{where}.{name}", "message": "unknown field; allowed: request_id, fare_amount"}
            )
            ok = False
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            errors.append(
                {
                    "field": f"{where}.request_id",
                    "message": f"must be the request_id of a prediction: {REQUEST_ID_RULE}",
                }
            )
            ok = False
        low, high = FARE_RANGE
        if not _is_number(fare) or not low <= fare <= high:
            errors.append(
                {"field": f"{where}.fare_amount", "message": f"must be a number in [{low:g}, {high:g}]"}
            )
            ok = False
        if ok:
            parsed.append((request_id, float(fare)))
    if errors:
        raise RequestError("invalid actuals", errors)
    return parsed
