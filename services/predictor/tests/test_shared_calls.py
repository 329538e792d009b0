import threading
import time

import numpy as np
import pytest

from taxifare.predictor.shared_calls import SharedModelCalls


class SlowModel:
    """Fares computed from the inputs (so each caller can check it got its own), at a fixed cost per call."""

    def __init__(self, offset: float = 0.0, seconds: float = 0.02, fail: bool = False):
        self.offset = offset
        self.seconds = seconds
        self.fail = fail
        self.batches: list[int] = []

    def predict(self, inputs: dict) -> np.ndarray:
        self.batches.append(len(inputs["x"]))
        time.sleep(self.seconds)  # releases the GIL, as TensorFlow does while the graph runs
        if self.fail:
            raise RuntimeError("graph failed")
        return inputs["x"] * 2.0 + self.offset


def trips(*values: float) -> dict:
    return {"x": np.array(values, dtype=np.float64)}


def run_concurrently(calls: SharedModelCalls, jobs: list[tuple]) -> list:
    """Each job (model, inputs) on its own thread, all released at once; results in job order."""
    results: list = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def work(i, model, inputs):
        start.wait()
        try:
            results[i] = calls.predict(model, inputs)
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive(), "a request never got its fares"
    return results


def test_a_lone_request_calls_the_model_once_for_itself():
    model = SlowModel(seconds=0)
    fares = SharedModelCalls(max_rows=100).predict(model, trips(1.0, 2.0))
    assert fares.tolist() == [2.0, 4.0] and model.batches == [2]


def test_concurrent_requests_share_calls_and_each_gets_its_own_fares():
    model = SlowModel()
    calls_made = []
    calls = SharedModelCalls(max_rows=1000, on_call=lambda: calls_made.append(1))
    jobs = [(model, trips(float(i), float(i) + 0.5)) for i in range(12)]
    results = run_concurrently(calls, jobs)
    for i, fares in enumerate(results):
        assert fares.tolist() == [2.0 * i, 2.0 * i + 1.0]
    assert sum(model.batches) == 24
    assert len(model.batches) < 12, model.batches  # while one call ran, the others queued for the next
    assert len(calls_made) == len(model.batches)


def test_a_call_takes_at_most_max_rows_but_always_one_request():
    model = SlowModel()
    calls = SharedModelCalls(max_rows=5)
    results = run_concurrently(
        calls, [(model, trips(*[float(i)] * 2)) for i in range(8)] + [(model, trips(*[9.0] * 7))]
    )
    assert results[-1].tolist() == [18.0] * 7
    assert all(fares.tolist() == [2.0 * i] * 2 for i, fares in enumerate(results[:-1]))
    assert all(rows <= 5 or rows == 7 for rows in model.batches), model.batches


def test_requests_for_different_models_get_their_own_models_fares():
    # A swap lands while requests queue: each keeps the model it read when it started.
    old, new = SlowModel(offset=0.0), SlowModel(offset=100.0)
    jobs = [(old if i % 2 else new, trips(float(i))) for i in range(10)]
    results = run_concurrently(SharedModelCalls(max_rows=1000), jobs)
    for i, fares in enumerate(results):
        assert fares.tolist() == [2.0 * i + (0.0 if i % 2 else 100.0)]


def test_a_failing_call_fails_its_requests_and_the_next_calls_still_run():
    broken, fine = SlowModel(fail=True), SlowModel(seconds=0)
    calls = SharedModelCalls(max_rows=1000)
    results = run_concurrently(calls, [(broken, trips(1.0)) for _ in range(4)])
    assert all(isinstance(r, RuntimeError) and "graph failed" in str(r) for r in results)
    assert calls.predict(fine, trips(3.0)).tolist() == [6.0]


def test_inputs_of_different_lengths_are_split_back_correctly():
    model = SlowModel()
    sizes = [1, 3, 2, 5, 1]
    jobs = [(model, trips(*[float(10 * i + k) for k in range(n)])) for i, n in enumerate(sizes)]
    results = run_concurrently(SharedModelCalls(max_rows=1000), jobs)
    for i, (n, fares) in enumerate(zip(sizes, results, strict=True)):
        assert fares.tolist() == pytest.approx([2.0 * (10 * i + k) for k in range(n)])
