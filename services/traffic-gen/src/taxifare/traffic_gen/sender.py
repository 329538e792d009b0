"""Sending trips to the predictor at a steady rate from several threads, and reporting actual fares."""

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import requests

from taxifare.traffic_gen.trips import TripSource

TRIP_FIELDS = (
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
)


@dataclass
class Plan:
    url: str
    rate: float  # requests per second; 0 means as fast as the threads go
    concurrency: int
    batch_size: int
    count: int | None  # requests to send, or None to run for `duration`
    duration: float | None  # seconds
    timeout: float = 10.0
    post_actuals: bool = True
    actuals_token: str | None = field(default=None, repr=False)  # PREDICTOR_ACTUALS_TOKEN


@dataclass
class Tally:
    """What happened so far; threads add to it under the lock."""

    sent: int = 0
    trips_sent: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)  # "503", "connection", ...
    latencies_ms: list[float] = field(default_factory=list)
    actuals_posted: int = 0
    actual_errors: Counter = field(default_factory=Counter)
    model_versions: Counter = field(default_factory=Counter)
    completed: list[pd.DataFrame] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_completed(self) -> pd.DataFrame | None:
        with self.lock:
            frames, self.completed = self.completed, []
        return pd.concat(frames, ignore_index=True) if frames else None


def instances_of(batch: pd.DataFrame, run_id: str, first: int) -> list[dict]:
    times = batch["pickup_datetime"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    columns = {name: batch[name].tolist() for name in TRIP_FIELDS}
    return [
        {
            "request_id": f"{run_id}-{first + i}",
            "pickup_datetime": times[i],
            **{name: values[i] for name, values in columns.items()},
        }
        for i in range(len(batch))
    ]


class Sender:
    def __init__(self, plan: Plan, source: TripSource, tally: Tally | None = None):
        self.plan = plan
        self.source = source
        self.tally = tally or Tally()
        self.run_id = uuid.uuid4().hex[:12]
        self._jobs = itertools.count()
        self._started = 0.0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> Tally:
        """Send everything the plan asks for; returns when the last thread is done."""
        self._started = time.monotonic()
        threads = [
            threading.Thread(target=self._worker, name=f"sender-{i}", daemon=True)
            for i in range(self.plan.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.tally

    def _next_job(self) -> int | None:
        """The next request's number once it is due, or None when the plan is done."""
        job = next(self._jobs)
        if self.plan.count is not None and job >= self.plan.count:
            return None
        due = self._started + (job / self.plan.rate if self.plan.rate > 0 else 0.0)
        end = self._started + self.plan.duration if self.plan.duration is not None else float("inf")
        if due >= end:
            return None
        wait = due - time.monotonic()
        if wait > 0 and self._stop.wait(wait):
            return None
        if self._stop.is_set() or time.monotonic() >= end:
            return None
        return job

    def _worker(self) -> None:
        session = requests.Session()
        while (job := self._next_job()) is not None:
            batch = self.source.take(self.plan.batch_size)
            self._send(session, batch, job)

    def _send(self, session: requests.Session, batch: pd.DataFrame, job: int) -> None:
        instances = instances_of(batch, self.run_id, job * self.plan.batch_size)
        started = time.perf_counter()
        try:
            response = session.post(
                self.plan.url + "/v1/predict", json={"instances": instances}, timeout=self.plan.timeout
            )
            outcome = "ok" if response.status_code == 200 else str(response.status_code)
        except requests.Timeout:
            outcome, response = "timeout", None
        except requests.RequestException:
            outcome, response = "connection", None
        elapsed_ms = (time.perf_counter() - started) * 1000
        version = response.json().get("model_version") if outcome == "ok" else None
        with self.tally.lock:
            self.tally.sent += 1
            self.tally.trips_sent += len(batch)
            self.tally.latencies_ms.append(elapsed_ms)
            if outcome == "ok":
                self.tally.ok += 1
                self.tally.model_versions[version] += len(batch)
            else:
                self.tally.errors[outcome] += 1
        if outcome != "ok":
            return
        # The ride is over: its real fare becomes known, and the trip joins the data store.
        if self.plan.post_actuals:
            self._post_actuals(session, [i["request_id"] for i in instances], batch["fare_amount"].tolist())
        with self.tally.lock:
            self.tally.completed.append(batch)

    def _post_actuals(self, session: requests.Session, request_ids: list[str], fares: list[float]) -> None:
        actuals = [
            {"request_id": r, "fare_amount": round(f, 2)} for r, f in zip(request_ids, fares, strict=True)
        ]
        token = self.plan.actuals_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = session.post(
                self.plan.url + "/v1/actuals",
                json={"actuals": actuals},
                headers=headers,
                timeout=self.plan.timeout,
            )
            outcome = "ok" if response.status_code == 202 else str(response.status_code)
        except requests.RequestException:
            outcome = "connection"
        with self.tally.lock:
            if outcome == "ok":
                self.tally.actuals_posted += len(actuals)
            else:
                self.tally.actual_errors[outcome] += 1
