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


class Picky(Sink):
    """A destination that refuses, as a database does, any write holding a row marked "bad"."""

    def __init__(self):
        super().__init__()
        self.attempts = 0

    def write(self, chunks: list) -> None:
        self.attempts += 1
        if not self.up.is_set():
            raise ConnectionError("connection refused")
        if any(item == "bad" for chunk in chunks for item in chunk):
            raise RefusedRow("value too long")
        self.batches.append(list(chunks))


class RefusedRow(ValueError):
    pass


def test_a_refused_row_is_dropped_and_counted_and_its_batch_written():
    sink, rejected = Picky(), []
    writer = BatchWriter(
        "test",
        sink.write,
        max_rows=10_000,
        batch_rows=1000,
        flush_seconds=0.05,
        counters=WriterCounters(on_rejected=rejected.append),
        refused=lambda error: isinstance(error, RefusedRow),
        split=lambda chunk: [[item] for item in chunk],
    ).start()
    good = [f"r{i}" for i in range(1000)]
    for start in range(0, 1000, 100):
        writer.submit(
            good[start : start + 50] + (["bad"] if start == 500 else []) + good[start + 50 : start + 100],
            100 + (start == 500),
        )
    wait_for(lambda: writer.written == 1000 and writer.rejected == 1)
    assert sorted(sink.items) == sorted(good) and rejected == [1]
    assert sink.attempts < 40  # halves, not one write a row
    writer.submit(["later"], 1)  # and the writer goes on
    wait_for(lambda: "later" in sink.items)
    assert writer.close(timeout=5) == 0


def test_an_outage_while_isolating_a_refused_row_keeps_the_rest_for_later():
    sink = Picky()
    writer = make_writer(sink, batch_rows=100, flush_seconds=5.0)
    sink.up.clear()
    writer._refused = lambda error: isinstance(error, RefusedRow)
    writer._split = lambda chunk: [[item] for item in chunk]
    # The first write sees the bad row; the database then goes away while it is isolated.
    original = sink.write

    def write_then_fail(chunks):
        if sink.attempts == 1:
            sink.up.clear()
        return original(chunks)

    sink.up.set()
    sink.write = write_then_fail
    writer._write = write_then_fail
    writer.submit(["a", "bad", "b", "c"] * 25, 100)
    wait_for(lambda: sink.attempts >= 3)
    assert writer.written == 0 and writer.pending_rows == 100
    sink.up.set()
    wait_for(lambda: writer.written == 75 and writer.rejected == 25)
    assert writer.close(timeout=5) == 0
