"""Concurrent requests of one worker share model calls.

Running the graph costs about the same for one trip as for fifty, so while a call runs, the requests
that arrive on the worker's other threads wait in a queue and the next call serves all of them at once.
A request that finds no call running makes the call itself and waits for nobody. TensorFlow releases
the GIL while the graph runs, which is what lets the other threads parse their requests meanwhile.
"""

import threading
from collections.abc import Callable

import numpy as np

Inputs = dict[str, np.ndarray]


class _Waiter:
    __slots__ = ("done", "error", "fares", "inputs", "leads", "model", "rows")

    def __init__(self, model, inputs: Inputs):
        self.model = model
        self.inputs = inputs
        self.rows = len(next(iter(inputs.values())))
        self.done = threading.Event()
        self.fares: np.ndarray | None = None
        self.error: BaseException | None = None
        self.leads = False


class SharedModelCalls:
    """`predict(model, inputs)` as a model would, with the calls of concurrent requests combined."""

    def __init__(self, max_rows: int, on_call: Callable[[], None] = lambda: None):
        self._max_rows = max_rows
        self._on_call = on_call
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._running = False  # a thread is calling the model; it hands over to the queue's head

    def predict(self, model, inputs: Inputs) -> np.ndarray:
        me = _Waiter(model, inputs)
        with self._lock:
            self._queue.append(me)
            me.leads = not self._running
            self._running = True
        if not me.leads:
            me.done.wait()
        if me.leads:  # first to come, or woken to run the next call, which includes this request
            self._run_next_call()
        if me.error is not None:
            raise me.error
        return me.fares

    def _run_next_call(self) -> None:
        with self._lock:
            taken, rows = 0, 0
            for waiter in self._queue:
                if taken and rows + waiter.rows > self._max_rows:
                    break
                taken, rows = taken + 1, rows + waiter.rows
            batch, self._queue = self._queue[:taken], self._queue[taken:]
        try:
            for model in {id(w.model): w.model for w in batch}.values():
                _call(model, [w for w in batch if w.model is model])
            self._on_call()
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].leads = True
                else:
                    self._running = False
                head = self._queue[0] if self._queue else None
            for waiter in batch:
                waiter.leads = False
                waiter.done.set()
            if head is not None:
                head.done.set()


def _call(model, waiters: list[_Waiter]) -> None:
    """One model call for the waiters' trips (all for this model); each gets its slice or the error."""
    try:
        if len(waiters) == 1:
            inputs = waiters[0].inputs
        else:
            inputs = {name: np.concatenate([w.inputs[name] for w in waiters]) for name in waiters[0].inputs}
        fares = model.predict(inputs)
    except Exception as e:
        for waiter in waiters:
            waiter.error = e
        return
    start = 0
    for waiter in waiters:
        waiter.fares = fares[start : start + waiter.rows]
        start += waiter.rows
