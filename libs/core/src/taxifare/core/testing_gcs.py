"""An in-process GCS emulator for tests (gcp-storage-emulator), so gs:// code runs against a real server.

The `gcs_emulator` fixture wraps `start_gcs_emulator`: it also sets STORAGE_EMULATOR_HOST so that
`taxifare.core.storage` talks to it.
"""

from collections.abc import Callable

TEST_BUCKET = "taxifare-test"
TEST_BUCKET_URI = f"gs://{TEST_BUCKET}"


def start_gcs_emulator(port: int, bucket: str = TEST_BUCKET) -> Callable[[], None]:
    """Serve an in-memory GCS on 127.0.0.1:`port` with `bucket` created; returns the stop function."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    return server.stop
