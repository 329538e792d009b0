"""Hostile requests and hostile callers against the real predictor (gunicorn), on SQLite and Postgres:
each answer's status and message, the server still up, and exactly which rows were stored."""

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from taxifare.core.db import tables

from .conftest import TRIP

pytestmark = pytest.mark.slow

# What the model in these tests was trained on: Manhattan to the airports, fares up to $10.
BOUNDS = {
    "pickup_longitude": [-74.05, -73.75],
    "pickup_latitude": [40.60, 40.90],
    "dropoff_longitude": [-74.05, -73.75],
    "dropoff_latitude": [40.60, 40.90],
    "fare_amount": [2.5, 10.0],
}
TOKEN = "s3cret-actuals-token-0123456789"
MAX_BODY = 65536


def raw_request(server, data: bytes, timeout: float = 15.0) -> tuple[int, dict, bytes]:
    """Send `data` as it is on a fresh connection; (status, headers, body) of the answer."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def chunked(path: str, body: bytes, framing: bytes | None = None) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + (framing if framing is not None else b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))


def predict_body(*instances) -> bytes:
    return json.dumps({"instances": list(instances)}).encode()


def hostile_cases() -> list[tuple[str, bytes | dict, int, str, set[str]]]:
    """(name, raw bytes or requests.post kwargs for /v1/predict, status, words in the answer,
    request ids of the predictions it must store)."""
    padded = predict_body({**TRIP, "request_id": "padded"})
    padded = padded[:-1] + b" " * (MAX_BODY - len(padded)) + b"}"
    assert len(padded) == MAX_BODY
    return [
        ("request id ending in a newline", {"json": {"instances": [{**TRIP, "request_id": "x\n"}]}}, 400,
         "request_id", set()),
        ("request id with a tab", {"json": {"instances": [{**TRIP, "request_id": "a\tb"}]}}, 400, "request_id",
         set()),
        ("request id null", {"json": {"instances": [{**TRIP, "request_id": None}]}}, 400, "request_id", set()),
        ("date without dashes", {"json": {"instances": [{**TRIP, "pickup_datetime": "20150630"}]}}, 400,
         "ISO 8601", set()),
        ("latitude outside the training area", {"json": {"instances": [{**TRIP, "pickup_latitude": 37.5}]}},
         400, "outside [39.1, 42.4], the area model 'v1' was trained on", set()),
        ("broken chunk framing", chunked("/v1/predict", b"", b"zz\r\n{}\r\n0\r\n\r\n"), 400, "malformed", set()),
        ("chunked body at the limit, then more", chunked("/v1/predict", padded + b"garbage"), 413, "", set()),
        ("Content-Length over the limit", {"data": b" " * (MAX_BODY + 1),
         "headers": {"Content-Type": "application/json"}}, 413, "", set()),
        ("invalid request line", b"GARBAGE\r\n\r\n", 400, "malformed request", set()),
        ("request line too long", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
         "malformed request", set()),
        ("header too large", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431,
         "malformed request", set()),
        ("chunked body at the limit", chunked("/v1/predict", padded), 200, "predictions", {"padded"}),
        ("a fare past the ceiling is clamped",
         {"json": {"instances": [{**TRIP, "dropoff_latitude": 40.9, "dropoff_longitude": -73.75,
                                  "request_id": "far"}]}}, 200, "20.0", {"far"}),
        ("a valid trip", {"json": {"instances": [{**TRIP, "request_id": "fine-1"}]}}, 200, "predictions",
         {"fine-1"}),
    ]  # fmt: skip


def test_hostile_requests_get_json_4xx_and_store_only_what_was_served(
    registry, tiny_model_dirs, start_predictor
):
    server = start_predictor(
        workers=1,
        PREDICTOR_MAX_BODY_BYTES=str(MAX_BODY),
        PREDICTOR_ACTUALS_TOKEN=TOKEN,
        PREDICTOR_ACTUALS_HOLD_SECONDS="1",
    )
    registry.register("v1", tiny_model_dirs["a"], status="live", input_bounds=BOUNDS)
    server.wait_until("/readyz", 200, all_workers=True)
    stored: set[str] = set()
    for name, request, status, words, rows in hostile_cases():
        if isinstance(request, bytes):
            got, headers, body = raw_request(server, request)
        else:
            response = requests.post(server.url + "/v1/predict", timeout=30, **request)
            got, headers, body = response.status_code, response.headers, response.content
        assert got == status, (name, body[:300])
        assert headers["content-type"].startswith("application/json"), (name, headers)
        assert words in body.decode(), (name, body[:300])
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200, name
        stored |= rows

    generated = requests.post(server.url + "/v1/predict", json={"instances": [TRIP]}, timeout=10).json()
    assert 2.5 <= generated["predictions"][0] < 20.0
    wrong_method = requests.get(server.url + "/v1/predict", timeout=10)
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    assert wrong_method.headers["Content-Type"] == "application/json"

    # Actual fares: only with the token, only for served trips.
    actuals = {
        "actuals": [{"request_id": "fine-1", "fare_amount": 9.5}, {"request_id": "never", "fare_amount": 1}]
    }
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        refused = requests.post(server.url + "/v1/actuals", json=actuals, headers=headers, timeout=10)
        assert refused.status_code == 401 and "Bearer" in refused.json()["error"], headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    accepted = requests.post(server.url + "/v1/actuals", json=actuals, headers=bearer, timeout=10)
    assert accepted.status_code == 202, accepted.text

    def settled() -> bool:
        return (
            server.metric("taxifare_predictor_actuals_unmatched_total") == 1
            and registry.count(tables.actuals) == 1
        )

    deadline = time.monotonic() + 20
    while not settled():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.2)
    stored.add(generated["request_ids"][0])
    assert {row.request_id for row in registry.rows(tables.predictions)} == stored
    assert [(a.request_id, a.fare_amount) for a in registry.rows(tables.actuals)] == [("fine-1", 9.5)]
    clamped = {row.request_id: row.prediction for row in registry.rows(tables.predictions)}["far"]
    assert clamped == 20.0  # twice the dearest training fare
    assert server.metric("taxifare_predictor_fares_clamped_total") == 1
    # gunicorn's own refusals are counted with the app's; nothing was a server error.
    assert server.metric("taxifare_predictor_requests_total", endpoint="unparsed", status="400") == 1
    assert server.metric("taxifare_predictor_requests_total", endpoint="unparsed", status="414") == 1
    assert server.metric("taxifare_predictor_requests_total", endpoint="unparsed", status="431") == 1
    assert server.metric("taxifare_predictor_requests_total", status="500") == 0
    assert server.stop() == 0
    assert TOKEN not in server.log_path.read_text()
    assert "Traceback" not in server.log_path.read_text()


class SlowClient(threading.Thread):
    """Connects and sends `head` then `trickle` one byte every `pause` s, again and again until stopped."""

    def __init__(self, server, head: bytes, trickle: bytes, pause: float, stop: threading.Event):
        super().__init__(daemon=True)
        address = urlsplit(server.url)
        self.address, self.head, self.trickle, self.pause, self.stop = (
            (address.hostname, address.port), head, trickle, pause, stop)  # fmt: skip
        self.answers: list[bytes] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection(self.address, timeout=30) as sock:
                    try:
                        sock.sendall(self.head)
                        for byte in self.trickle:
                            if self.stop.wait(self.pause):
                                return
                            sock.sendall(bytes([byte]))
                    except OSError:
                        pass  # cut off by the server: read why, then connect again
                    self.answers.append(sock.recv(4096))
            except OSError as e:
                self.answers.append(repr(e).encode())


def test_slow_clients_do_not_starve_the_server(registry, tiny_model_dirs, start_predictor):
    threads = 2
    server = start_predictor(workers=1, PREDICTOR_THREADS=str(threads), PREDICTOR_READ_TIMEOUT_SECONDS="2")
    registry.register("v1", tiny_model_dirs["a"], status="live")
    server.wait_until("/readyz", 200, all_workers=True)
    body = predict_body(TRIP)
    stop = threading.Event()
    attackers = [
        # Headers a byte at a time (slowloris), and a body a byte at a time behind a Content-Length.
        *(SlowClient(server, b"POST /v1/predict HTTP/1.1\r\n", b"Host: x\r\n" * 20, 0.3, stop) for _ in range(4 * threads)),
        *(SlowClient(server, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body), body, 0.3, stop) for _ in range(2 * threads)),
    ]  # fmt: skip
    for attacker in attackers:
        attacker.start()
    time.sleep(1.0)
    latencies, statuses = [], []
    session = requests.Session()
    until = time.monotonic() + 8
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            statuses.append(session.get(server.url + "/healthz", timeout=2).status_code)
            served = session.post(server.url + "/v1/predict", json={"instances": [TRIP]}, timeout=2)
            statuses.append(served.status_code)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.1)
    finally:
        stop.set()
        for attacker in attackers:
            attacker.join(10)
    assert set(statuses) == {200} and len(statuses) > 20, statuses
    assert max(latencies) < 1.0, max(latencies)
    answers = b"".join(answer for attacker in attackers for answer in attacker.answers)
    assert b"408 Request Timeout" in answers and b"did not arrive within 2 s" in answers
    assert server.metric("taxifare_predictor_requests_total", endpoint="unparsed", status="408") > 0
    assert server.stop() == 0
