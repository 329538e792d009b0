"""A background writer that turns many small submissions into few large database writes.

Requests only append to an in-memory buffer (a lock held for microseconds), so a slow or stopped
database never slows serving. The buffer depth is reported by the writer after each attempt, not by
every request. The buffer is bounded: what does not fit is dropped, counted and logged.
Failed writes keep their rows at the front of the buffer and are retried with exponential backoff.
"""

import logging
import threading
import time
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


class BatchWriter:
    """Buffers chunks (each worth some rows) and hands them to `write(chunks)` in batches.

    `write` gets a list of chunks holding about `batch_rows` rows and must write all or nothing.
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
        self._chunks: list[tuple[object, int]] = []
        self._rows = 0
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._dropped_since_log = 0
        self._last_drop_log = 0.0
        self.written = 0
        self.dropped = 0
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
            except Exception as e:  # any driver error: keep the rows and retry
                self._counters.on_error()
                self._counters.on_depth(self._rows)
                if not failing:
                    log.warning("%s write failed, retrying with backoff: %s", self.name, e)
                failing = True
                if time.monotonic() + delay > self._deadline:
                    log.error("%s: database still failing at shutdown: %s", self.name, e)
                    return
                time.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            if failing:
                log.info("%s writes succeed again", self.name)
            failing, delay = False, self._backoff_min
            rows = sum(n for _, n in batch)
            with self._cond:
                # submit() only appends, so the batch is still the front of the buffer
                del self._chunks[: len(batch)]
                self._rows -= rows
                depth = self._rows
            self.written += rows
            self._counters.on_written(rows)
            self._counters.on_depth(depth)
