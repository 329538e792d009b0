"""Schemathesis against the real predictor: every phase (examples, coverage, fuzzing, and stateful
predict -> actuals through the OpenAPI link), positive and negative data, with the actuals token,
every check schemathesis has (server errors, status codes, content types, headers and bodies as the
document says, invalid requests refused, valid ones accepted, 405s with Allow, auth enforced).
Afterwards the server is up, every served trip is logged, and the linked actual fares are stored.

The counts come from schemathesis' own reports: one JSON report per process, and the stateful
phase's event log for the calls it made through the link. Run by `make fuzz`, on Postgres where
TEST_DATABASE_URL names one, else on SQLite (the hostile-request table covers both).
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from taxifare.core.db import tables

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.skipif(os.environ.get("TAXIFARE_FUZZ") != "1", reason="fuzz run: make fuzz"),
]

TOKEN = "fuzz-actuals-token-0123456789abcdef"
CONFIG = Path(__file__).with_name("schemathesis.toml")  # cases per phase, seed, one thread
MIN_CASES = 10_000
BACKEND = "postgres" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
BOUNDS = {
    "pickup_longitude": [-74.05, -73.75],
    "pickup_latitude": [40.60, 40.90],
    "dropoff_longitude": [-74.05, -73.75],
    "dropoff_latitude": [40.60, 40.90],
    "fare_amount": [2.5, 60.0],
}
# Two lanes of one-thread processes, so that both cores generate cases: fuzzing /v1/predict (the
# dearest inputs to generate) beside everything else, about equally long.
LANES = (
    (("fuzzing", ("--include-path", "/v1/predict")),),
    (
        ("examples", ()),
        ("coverage", ()),
        ("fuzzing", ("--exclude-path", "/v1/predict")),
        ("stateful", ()),
    ),
)


def schemathesis(url: str, phase: str, filters: tuple[str, ...], reports: Path, name: str) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG), "run",
        url + "/openapi.json", "--phases", phase, *filters, "--checks", "all",
        "--header", f"Authorization: Bearer {TOKEN}", "--no-color",
        "--report", "json,ndjson" if phase == "stateful" else "json",
        "--report-json-path", str(reports / f"{name}.json"),
        "--report-ndjson-path", str(reports / f"{name}.ndjson"),
    ]  # fmt: skip


def run_lane(lane, url: str, reports: Path, prefix: str) -> subprocess.Popen:
    """The lane's processes one after another, in a shell that stops at the first failure."""
    names = [f"{prefix}{i}-{phase}" for i, (phase, _) in enumerate(lane)]
    commands = [
        subprocess.list2cmdline(schemathesis(url, phase, filters, reports, name))
        + f" > {reports / name}.out 2>&1"
        for (phase, filters), name in zip(lane, names, strict=True)
    ]
    return subprocess.Popen(["/bin/sh", "-c", " && ".join(commands)], cwd=reports)


def links_followed(events: Path) -> Counter:
    """Calls the stateful phase made with values taken from an earlier response, by operation."""
    followed: Counter = Counter()
    with events.open() as lines:
        for line in lines:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished is None or finished["phase"] != "stateful":
                continue
            for case in finished["recorder"].get("cases", {}).values():
                if case.get("is_transition_applied"):
                    followed[case["value"]["path"]] += 1
    return followed


@pytest.mark.parametrize("database_url", [BACKEND], indirect=True)
def test_schemathesis_finds_nothing(registry, tiny_model_dirs, start_predictor, tmp_path):
    # Small batches keep generation fast; the coverage phase still sends one past the limit.
    server = start_predictor(
        PREDICTOR_ACTUALS_TOKEN=TOKEN, PREDICTOR_MAX_INSTANCES="10", PREDICTOR_ACTUALS_HOLD_SECONDS="5"
    )
    registry.register("v1", tiny_model_dirs["a"], status="live", input_bounds=BOUNDS)
    server.wait_until("/readyz", 200, all_workers=True)
    started = time.monotonic()
    lanes = [run_lane(lane, server.url, tmp_path, f"{n}.") for n, lane in enumerate(LANES)]
    try:
        codes = [lane.wait(timeout=900) for lane in lanes]
    finally:
        for lane in lanes:
            if lane.poll() is None:
                lane.kill()
    elapsed = time.monotonic() - started

    outputs = sorted(tmp_path.glob("*.out"))
    reports = {path.stem: json.loads(path.read_text()) for path in sorted(tmp_path.glob("*.json"))}
    per_phase: Counter = Counter()
    for name, report in reports.items():
        phase = name.split("-", 1)[1]
        per_phase[phase] += report["test_cases"]["generated"]
        problems = (report["failures"], report["errors"], report["test_cases"]["with_failures"])
        assert report["exit_code"] == 0 and problems == ([], [], 0), (
            name,
            Path(tmp_path / f"{name}.out").read_text()[-6000:],
        )
        assert report["stop_reason"] == "completed" and report["phases"][phase]["status"] == "success", name
    assert codes == [0, 0] and len(reports) == sum(map(len, LANES)), [p.read_text()[-3000:] for p in outputs]
    (stateful_events,) = tmp_path.glob("*-stateful.ndjson")
    followed = links_followed(stateful_events)
    total = sum(per_phase.values())
    print(
        f"schemathesis ({BACKEND}): {total} cases in {elapsed:.0f} s, {dict(per_phase)}; "
        f"stateful calls through the link: {dict(followed)}; seconds per process: "
        f"{ {name: round(report['running_time']) for name, report in reports.items()} }"
    )
    assert total >= MIN_CASES, dict(per_phase)
    assert followed["/v1/actuals"] > 0  # the predict -> actuals link was followed, not only listed

    assert server.metric("taxifare_predictor_requests_total", status="500") == 0
    served = server.metric("taxifare_predictor_predictions_total")
    assert server.stop() == 0  # graceful: every buffered row written
    assert registry.count(tables.predictions) == served
    assert registry.count(tables.actuals) > 0  # fares posted by the ids predictions answered with
    assert "Traceback" not in server.log_path.read_text()
