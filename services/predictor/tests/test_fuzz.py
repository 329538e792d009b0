"""Schemathesis against the real predictor: every phase (examples, coverage, fuzzing, and stateful
predict -> actuals through the OpenAPI links), positive and negative data, with the actuals token.
No server error, every answer's status, content type, headers and body as the document says,
every invalid request refused; afterwards the server is up and every served trip is logged.

Run by `make fuzz` (FUZZ_EXAMPLES sets the cases per operation and phase), on Postgres where
TEST_DATABASE_URL names one, else on SQLite (the hostile-request table covers both); skipped otherwise.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taxifare.core.db import tables

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.skipif(os.environ.get("TAXIFARE_FUZZ") != "1", reason="fuzz run: make fuzz"),
]

TOKEN = "fuzz-actuals-token-0123456789abcdef"
# One worker: with two, hypothesis' strategy descriptions (ast.parse in threads) hit a CPython 3.11
# "AST constructor recursion depth mismatch" error inside schemathesis, not in the predictor.
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance,negative_data_rejection,ignored_auth"
)
BACKEND = "postgres" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
BOUNDS = {
    "pickup_longitude": [-74.05, -73.75],
    "pickup_latitude": [40.60, 40.90],
    "dropoff_longitude": [-74.05, -73.75],
    "dropoff_latitude": [40.60, 40.90],
    "fare_amount": [2.5, 60.0],
}


@pytest.mark.parametrize("database_url", [BACKEND], indirect=True)
def test_schemathesis_finds_nothing(registry, tiny_model_dirs, start_predictor, tmp_path):
    server = start_predictor(PREDICTOR_ACTUALS_TOKEN=TOKEN, PREDICTOR_MAX_INSTANCES="50")
    registry.register("v1", tiny_model_dirs["a"], status="live", input_bounds=BOUNDS)
    server.wait_until("/readyz", 200, all_workers=True)
    examples = os.environ.get("FUZZ_EXAMPLES", "500")
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", server.url + "/openapi.json",
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", examples,
        "--header", f"Authorization: Bearer {TOKEN}", "--seed", "16", "--workers", "1",
        "--request-timeout", "10", "--max-time", os.environ.get("FUZZ_MAX_SECONDS", "240"),
        "--suppress-health-check", "all", "--no-color", "--report", "junit",
        "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    print(output[-4000:])
    cases = sum(int(n) for n in re.findall(r"(\d+) generated", output))
    print(f"schemathesis: {cases} test cases in {time.monotonic() - started:.0f} s, exit {result.returncode}")
    assert result.returncode == 0, output[-6000:]
    assert cases >= int(os.environ.get("FUZZ_MIN_CASES", "10000")), output[-3000:]
    assert server.metric("taxifare_predictor_requests_total", status="500") == 0
    served = server.metric("taxifare_predictor_predictions_total")
    assert server.stop() == 0  # graceful: every buffered row written
    assert registry.count(tables.predictions) == served
    assert "Traceback" not in server.log_path.read_text()
