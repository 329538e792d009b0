"""A background writer that turns many small submissions into few large database writes.

Requests only append to an in-memory buffer (a lock held for microseconds), so a slow or stopped
database never slows serving. The buffer depth is reported by the writer after each attempt, not by
every request. The buffer is bounded: what does not fit is dropped, counted and logged.
Failed writes keep their rows at the front of the buffer and are retried with exponential backoff.

A write that fails because of its rows (the database refuses a value), not because the database is
away, is retried in halves down to single rows: the rows the database refuses alone are dropped,
counted and logged, and every other row is written. One bad row never stops the writer.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_SECONDS = 10.0


@dataclass
class WriterCounters:
    on_written: Callable[[int], None] = lambda n: None
    on_dropped: Callable[[int], None] = lambda n: None
    on_error: Callable[[], None] = lambda: None
    on_depth: Callable[[int], None] = lambda n: None
    on_rejected: Callable[[int], None] = lambda n: None


class BatchWriter:
    """Buffers chunks (each worth some rows) and hands them to `write(chunks)` in batches.

    `write` gets a list of chunks holding about `batch_rows` rows and must write all or nothing.
    `refused(error)` tells a failure caused by the rows from one of the database, and `split(chunk)`
    cuts a chunk into one chunk per row; without them every failure is retried as an outage.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list], None],
        *,
        max_rows: int,
        batch_rows: int,
        flush_seconds: float,
        counters: WriterCounters | None = None,
        backoff: tuple[float, float] = (0.05, 5.0),
        refused: Callable[[Exception], bool] = lambda error: False,
        split: Callable[[object], list] = lambda chunk: [chunk],
    ):
        self.name = name
        self._write = write
        self._max_rows = max_rows
        self._batch_rows = batch_rows
        # Write as soon as a batch is full, or the buffer half full if it holds less than a batch:
        # waiting out the flush interval could fill it and drop rows before a write is even tried.
        self._write_at_rows = max(1, min(batch_rows, max_rows // 2))
        self._flush_seconds = flush_seconds
        self._counters = counters or WriterCounters()
        self._backoff_min, self._backoff_max = backoff
        self._refused = refused
        self._split = split
        self._chunks: list[tuple[object, int]] = []
        self._rows = 0
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._dropped_since_log = 0
        self._last_drop_log = 0.0
        self.written = 0
        self.dropped = 0
        self.rejected = 0
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)

    def start(self) -> "BatchWriter":
        self._thread.start()
        return self

    @property
    def pending_rows(self) -> int:
        return self._rows

    def submit(self, chunk, rows: int) -> bool:
        """Buffer a chunk; False (and counted as dropped) when the buffer is full or closed."""
        with self._cond:
            if self._closing or self._rows + rows > self._max_rows:
                self._count_drop(rows)
                return False
            self._chunks.append((chunk, rows))
            was_empty = self._rows == 0
            self._rows += rows
            # Wake the writer only when it waits for this: the first rows, or a full batch. Waking
            # it on every request would cost two thread switches per request.
            if was_empty or self._rows >= self._write_at_rows > self._rows - rows:
                self._cond.notify()
        return True

    def close(self, timeout: float) -> int:
        """Write what is buffered (retrying until `timeout`), stop; returns the rows left unwritten."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout + 1.0)
        lost = self._rows
        if lost:
            log.error("%s writer stopped with %d rows unwritten", self.name, lost, extra={"lost_rows": lost})
        return lost

    def _count_drop(self, rows: int) -> None:
        self.dropped += rows
        self._dropped_since_log += rows
        self._counters.on_dropped(rows)
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_SECONDS:
            log.warning(
                "%s buffer full (%d rows): dropped %d rows since the last report",
                self.name,
                self._max_rows,
                self._dropped_since_log,
                extra={"dropped_rows": self._dropped_since_log, "dropped_total": self.dropped},
            )
            self._dropped_since_log = 0
            self._last_drop_log = now

    def _next_batch(self) -> list[tuple[object, int]] | None:
        """Wait for a full batch, the flush interval or closing; None when closed and empty."""
        with self._cond:
            while not self._chunks and not self._closing:
                self._cond.wait()
            if not self._chunks:
                return None
            flush_at = time.monotonic() + self._flush_seconds
            while self._rows < self._write_at_rows and not self._closing:
                left = flush_at - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, rows = [], 0
            for chunk, n in self._chunks:
                if batch and rows + n > self._batch_rows:
                    break
                batch.append((chunk, n))
                rows += n
            return batch

    def _run(self) -> None:
        delay = self._backoff_min
        failing = False
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._write([chunk for chunk, _ in batch])
                written, unwritten = sum(n for _, n in batch), None
            except Exception as e:  # any driver error
                written, unwritten = 0, batch
                if self._refused(e):
                    written, unwritten = self._write_around_refused_rows(batch, e)
                error = e
            if unwritten:
                self._counters.on_error()
                self._requeue(batch, unwritten, written)
                if not failing:
                    log.warning("%s write failed, retrying with backoff: %s", self.name, error)
                failing = True
                if time.monotonic() + delay > self._deadline:
                    log.error("%s: database still failing at shutdown: %s", self.name, error)
                    return
                time.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            if failing:
                log.info("%s writes succeed again", self.name)
            failing, delay = False, self._backoff_min
            self._requeue(batch, [], written)

    def _requeue(self, batch: list, unwritten: list, written: int) -> None:
        """Replace `batch` at the front of the buffer by its `unwritten` rows; count what was written."""
        with self._cond:
            # submit() only appends, so the batch is still the front of the buffer
            del self._chunks[: len(batch)]
            self._chunks[:0] = unwritten
            self._rows -= sum(n for _, n in batch) - sum(n for _, n in unwritten)
            depth = self._rows
        if written:
            self.written += written
            self._counters.on_written(written)
        self._counters.on_depth(depth)

    def _write_around_refused_rows(self, batch: list, error: Exception) -> tuple[int, list]:
        """Write `batch`, which the database refused because of some row, in halves down to single
        rows; drop (and count) each row refused alone. Returns (rows written, rows left unwritten
        because the database failed otherwise midway), the latter as (chunk, 1) pairs."""
        rows = [row for chunk, _ in batch for row in self._split(chunk)]
        parts = deque([(rows, error)])  # (rows, the error they failed with as a whole, or None)
        written = 0
        while parts:
            part, failure = parts[0]
            if failure is None:
                try:
                    self._write(part)
                except Exception as e:
                    if not self._refused(e):
                        return written, [(row, 1) for part, _ in parts for row in part]
                    failure = e
                else:
                    parts.popleft()
                    written += len(part)
                    continue
            parts.popleft()
            if len(part) == 1:
                self._reject(failure)
                continue
            half = len(part) // 2
            parts.extendleft([(part[half:], None), (part[:half], None)])
        return written, []

    def _reject(self, error: Exception) -> None:
        self.rejected += 1
        self._counters.on_rejected(1)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
        log.error(
            "%s: dropped a row the database refuses (%s)",
            self.name,
            reason,
            extra={"rejected_total": self.rejected},
        )
