"""gunicorn settings of the predictor (`gunicorn -c <this file> taxifare.predictor.wsgi:create()`).

| variable | default | meaning |
|---|---|---|
| HOST | 127.0.0.1 | address to bind (0.0.0.0 in a container) |
| PORT | 8080 | port to bind |
| WEB_CONCURRENCY | 2 | worker processes (each loads the model) |
| PREDICTOR_THREADS | 8 | threads per worker; concurrent requests share model calls, so more threads make fewer, larger calls |
| PREDICTOR_GRACEFUL_SECONDS | 30 | time a stopping worker gets to finish requests and flush its logs |
| PROMETHEUS_MULTIPROC_DIR | a new temporary folder | where workers share their metrics |
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread, with requests gathered in the main loop before they reach a thread (worker.py).
worker_class = "taxifare.predictor.worker.PredictorWorker"
threads = int(os.environ.get("PREDICTOR_THREADS", "8"))
graceful_timeout = int(os.environ.get("PREDICTOR_GRACEFUL_SECONDS", "30"))
timeout = 60
keepalive = 5
# A worker may take seconds to import TensorFlow; the app itself loads the model in the background.
preload_app = False
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections over
# them. On one shared socket the first worker to wake took most: of 16 keep-alive connections, one
# worker got all 16 in 2 of 6 runs, leaving the other idle and halving the throughput.
# (Linux only: elsewhere SO_REUSEPORT does not spread connections.)
reuse_port = sys.platform.startswith("linux")


def on_starting(server):
    # Workers inherit this before they import prometheus_client; stale files would add old counts.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        for stale in Path(path).glob("*.db"):
            stale.unlink()
    else:
        path = tempfile.mkdtemp(prefix="taxifare-predictor-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    server.log.info("metrics of all workers shared in %s", path)


def on_exit(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if Path(path).name.startswith("taxifare-predictor-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    # Runs in the worker after its last request: write every buffered prediction log row.
    from taxifare.predictor.app import shutdown_all

    lost = shutdown_all(timeout=max(graceful_timeout - 5, 1))
    if lost:
        server.log.error("worker %s exited with %s log rows unwritten", worker.pid, lost)
