import threading
import time

from taxifare.predictor.batch_writer import BatchWriter, WriterCounters


class Sink:
    """A destination that can be switched off, like a database that goes away and comes back."""

    def __init__(self):
        self.batches: list[list] = []
        self.up = threading.Event()
        self.up.set()
        self.failures = 0

    def write(self, chunks: list) -> None:
        if not self.up.is_set():
            self.failures += 1
            raise ConnectionError("connection refused")
        self.batches.append(list(chunks))

    @property
    def items(self) -> list:
        return [item for batch in self.batches for chunk in batch for item in chunk]


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def make_writer(sink, **kwargs) -> BatchWriter:
    options = {"max_rows": 1000, "batch_rows": 10, "flush_seconds": 0.05, "backoff": (0.01, 0.05)} | kwargs
    return BatchWriter("test", sink.write, **options).start()


def test_rows_are_written_in_batches_of_at_most_batch_rows():
    sink = Sink()
    writer = make_writer(sink, flush_seconds=5.0)
    for i in range(25):
        writer.submit([i], 1)
    wait_for(lambda: len(sink.items) >= 20)
    assert all(len(batch) == 10 for batch in sink.batches)
    assert writer.close(timeout=5) == 0
    assert sink.items == list(range(25))


def test_a_lone_row_is_flushed_after_the_interval():
    sink = Sink()
    writer = make_writer(sink)
    writer.submit(["only"], 1)
    wait_for(lambda: sink.items == ["only"])
    writer.close(timeout=1)


def test_failed_writes_are_retried_in_order_and_counted():
    sink, errors = Sink(), []
    sink.up.clear()
    writer = make_writer(sink, counters=WriterCounters(on_error=lambda: errors.append(1)))
    for i in range(30):
        writer.submit([i], 1)
    wait_for(lambda: sink.failures >= 3)
    assert sink.items == [] and writer.pending_rows == 30
    sink.up.set()
    wait_for(lambda: len(sink.items) == 30)
    assert sink.items == list(range(30)) and len(errors) == sink.failures
    assert writer.close(timeout=1) == 0


def test_beyond_the_bound_rows_are_dropped_and_counted_without_blocking():
    sink, dropped = Sink(), []
    sink.up.clear()
    writer = make_writer(sink, max_rows=50, counters=WriterCounters(on_dropped=dropped.append))
    started = time.monotonic()
    accepted = [writer.submit(list(range(i * 10, i * 10 + 10)), 10) for i in range(8)]
    assert time.monotonic() - started < 1.0
    assert accepted == [True] * 5 + [False] * 3
    assert sum(dropped) == 30 == writer.dropped
    sink.up.set()
    wait_for(lambda: len(sink.items) == 50)
    writer.close(timeout=1)


def test_close_flushes_everything_buffered():
    sink = Sink()
    writer = make_writer(sink, batch_rows=1000, flush_seconds=60.0)
    for i in range(500):
        writer.submit([i], 1)
    assert writer.close(timeout=5) == 0
    assert sink.items == list(range(500))
    assert writer.submit([1], 1) is False  # closed: counted as dropped rather than silently kept


def test_close_reports_rows_it_could_not_write():
    sink = Sink()
    sink.up.clear()
    writer = make_writer(sink)
    writer.submit([1, 2, 3], 3)
    assert writer.close(timeout=0.2) == 3


def test_a_buffer_smaller_than_a_batch_is_written_once_half_full_not_after_the_interval():
    sink = Sink()
    writer = make_writer(sink, max_rows=20, batch_rows=1000, flush_seconds=30.0)
    for i in range(9):
        writer.submit([i], 1)
    time.sleep(0.2)
    assert sink.items == []  # under half: waits for more rows or the interval
    writer.submit([9], 1)
    wait_for(lambda: sink.items == list(range(10)), timeout=3)
    assert writer.dropped == 0
    writer.close(timeout=1)
