"""gunicorn's threaded worker, hardened against slow and malformed clients.

gthread hands a connection to a thread as soon as its first byte arrives, and the thread then reads
the request at whatever pace the client sends it: as many clients sending a byte a second as there
are threads stopped the worker, /healthz included. Here the worker's main loop (one selector, no
thread) gathers each request's head, and its body when it has a Content-Length within the body
limit, and only a complete request reaches a thread. A client gets `read_timeout` seconds from its
first byte to send all that (408 after); a chunked body, read by the thread, must arrive by the
same deadline. So a thread only ever waits on a client that already sent its request.

gunicorn's own answers to requests it cannot parse (400, 414, 431, ...) are JSON here, like the
app's, and counted in /metrics (endpoint "unparsed").
"""

import contextlib
import json
import math
import re
import selectors
import time
from collections import deque
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

HEAD_END = b"\r\n\r\n"
# gunicorn refuses a request line over 4094 bytes and headers over 8190 bytes each before this.
MAX_HEAD_BYTES = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*([0-9]{1,15})[ \t]*\r\n", re.IGNORECASE)
# A client that sends `Expect: 100-continue` waits for the 100 before its body: the thread sends it.
_EXPECT = re.compile(rb"\r\nexpect[ \t]*:", re.IGNORECASE)
UNPARSED = "unparsed"

# (status, reason) of gunicorn's parse errors; any other client error is a 400.
_STATUS_OF = (
    (http_errors.LimitRequestLine, 414, "URI Too Long"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented"),
    (http_errors.ExpectationFailed, 417, "Expectation Failed"),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden"),
)


class ReadTimeout(Exception):
    """The client did not send its whole request within the read timeout."""


def timeout_message(seconds: float) -> str:
    return f"the request did not arrive within {seconds:g} s; send it whole, faster"


class DeadlineSocket:
    """A client socket whose reads fail with ReadTimeout once `deadline` (monotonic) has passed."""

    def __init__(self, sock):
        self.raw = sock
        self.deadline: float | None = None

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self.deadline is None:
            return self.raw.recv(size, flags)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ReadTimeout
        prior = self.raw.gettimeout()
        self.raw.settimeout(left if prior is None else min(left, prior))
        try:
            return self.raw.recv(size, flags)
        except TimeoutError:
            if time.monotonic() >= self.deadline:
                raise ReadTimeout from None
            raise
        finally:
            self.raw.settimeout(prior)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def error_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class PredictorWorker(ThreadWorker):
    def init_process(self):
        self.arriving: deque = deque()  # connections whose request is still arriving, oldest first
        super().init_process()  # loads the app, then runs the main loop

    @property
    def _app_config(self) -> dict:
        return getattr(self.wsgi, "config", {})

    @property
    def read_timeout(self) -> float:
        return float(self._app_config.get("TAXIFARE_READ_TIMEOUT", 10.0))

    @property
    def max_body(self) -> float:
        return self._app_config.get("MAX_CONTENT_LENGTH") or math.inf

    def enqueue_req(self, conn):
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket(conn.sock)
        pipelined = conn.parser is not None and conn.parser.unreader.buf.getvalue()
        if getattr(conn, "request_arrived", False) or pipelined:
            conn.request_arrived = False
            if pipelined:
                conn.sock.deadline = time.monotonic() + self.read_timeout
            super().enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        conn.received = bytearray()
        conn.read_by = time.monotonic() + self.read_timeout
        self.arriving.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_data, conn))

    def _on_data(self, conn, _sock) -> None:
        try:
            data = conn.sock.raw.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._forget(conn)
            return
        conn.received += data
        if not self._request_complete(conn.received):
            return
        self.poller.unregister(conn.sock)
        self.arriving.remove(conn)
        conn.init()  # the HTTP/1 parser, for a new connection
        conn.parser.unreader.unread(bytes(conn.received))
        conn.received = None
        conn.data_ready = True
        conn.sock.deadline = conn.read_by  # for a chunked body, which the thread reads
        conn.request_arrived = True
        self.enqueue_req(conn)

    def _request_complete(self, received: bytearray) -> bool:
        end = received.find(HEAD_END)
        if end < 0:
            return len(received) >= MAX_HEAD_BYTES  # the parser refuses it at once
        head = received[: end + 2]
        length = _CONTENT_LENGTH.search(head)
        if length is None or _EXPECT.search(head) or int(length.group(1)) > self.max_body:
            # No body, a chunked one, or one the app refuses (413) unread.
            return True
        return len(received) - (end + 4) >= int(length.group(1))

    def _forget(self, conn, answer: bytes | None = None) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.arriving.remove(conn)
        if answer:
            with contextlib.suppress(OSError):  # non-blocking: a client that reads nothing gets nothing
                conn.sock.raw.send(answer)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in list(self.arriving):
            if conn.read_by <= now:
                self._count(408)
                self._forget(conn, error_response(408, "Request Timeout", timeout_message(self.read_timeout)))
            elif not self.alive and not conn.received:
                self._forget(conn)  # stopping: an idle connection has no request to finish

    def _keepalive_after(self, conn, keepalive):
        conn.sock.deadline = None  # the drain of an unread body has its own deadline
        return super()._keepalive_after(conn, keepalive)

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, ReadTimeout):
            status, reason, message = 408, "Request Timeout", timeout_message(self.read_timeout)
        elif isinstance(exc, http_errors.ParseException):
            status, reason = next(
                ((s, r) for kind, s, r in _STATUS_OF if isinstance(exc, kind)), (400, "Bad Request")
            )
            message = f"malformed request: {exc}"
        else:
            return super().handle_error(req, client, addr, exc)  # logged, 500
        self.log.info("refused a malformed request from %s: %s", (addr or ("",))[0], message)
        self._count(status)
        with contextlib.suppress(OSError):
            client.sendall(error_response(status, reason, message))

    def _count(self, status: int) -> None:
        runtime = getattr(self.wsgi, "extensions", {}).get("taxifare")
        if runtime is not None:
            count, _ = runtime.metrics.request_counters(UNPARSED, status)
            count()
