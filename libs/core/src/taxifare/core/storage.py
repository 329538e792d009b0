"""Bytes and folders at local paths or `gs://bucket/prefix`, behind one small API.

`publish_dir` makes a folder visible to readers all at once: the files, then a `MANIFEST.json` of
their sha256 sums, then a `_SUCCESS` marker written last. Readers check `is_published` (or
`verify_published`) before trusting a folder. `STORAGE_EMULATOR_HOST` points the GCS client at an
emulator, as the google-cloud-storage library itself understands it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

GS_SCHEME = "gs://"
MANIFEST = "MANIFEST.json"
SUCCESS = "_SUCCESS"


class StorageError(Exception):
    """A storage operation failed; the message names the URI."""


def is_gcs(uri: str | os.PathLike) -> bool:
    return str(uri).startswith(GS_SCHEME)


def join(uri: str | os.PathLike, *parts: str) -> str:
    uri = str(uri)
    if not is_gcs(uri):
        return os.path.join(uri, *parts)
    pieces = [uri.rstrip("/")] + [p.strip("/") for p in parts if p.strip("/")]
    return "/".join(pieces)


def read_bytes(uri: str | os.PathLike) -> bytes:
    uri = str(uri)
    if is_gcs(uri):
        from google.api_core.exceptions import NotFound

        try:
            return _blob(uri).download_as_bytes()
        except NotFound:
            raise StorageError(f"{uri!r} does not exist") from None
    try:
        return Path(uri).read_bytes()
    except FileNotFoundError:
        raise StorageError(f"{uri!r} does not exist") from None
    except IsADirectoryError:
        raise StorageError(f"{uri!r} is a folder, not a file") from None


def write_bytes(uri: str | os.PathLike, data: bytes) -> None:
    """Write a whole object. Locally through a temp file and a rename, so a reader sees old or new."""
    uri = str(uri)
    if is_gcs(uri):
        _blob(uri).upload_from_string(data)  # a GCS object appears whole by design
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden name in the same folder: same file system for os.replace, skipped by list_uris.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exists(uri: str | os.PathLike) -> bool:
    uri = str(uri)
    if is_gcs(uri):
        return _blob(uri).exists()
    return Path(uri).is_file()


def delete(uri: str | os.PathLike) -> None:
    """Delete one file if it is there."""
    uri = str(uri)
    if is_gcs(uri):
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            _blob(uri).delete()
        return
    Path(uri).unlink(missing_ok=True)


def list_uris(prefix: str | os.PathLike) -> list[str]:
    """Every file under a folder or prefix, recursively, sorted. Hidden temp files are skipped."""
    prefix = str(prefix)
    if is_gcs(prefix):
        bucket, key = _split(prefix)
        key = key.rstrip("/") + "/" if key else ""
        blobs = _client().list_blobs(bucket, prefix=key)
        return sorted(f"{GS_SCHEME}{bucket}/{b.name}" for b in blobs if not b.name.endswith("/"))
    root = Path(prefix)
    if not root.is_dir():
        return []
    files = (p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(str(p) for p in files)


def relative(uri: str, root: str) -> str:
    """The part of `uri` below `root`, with forward slashes."""
    root = str(root)
    if is_gcs(root):
        return uri[len(root.rstrip("/")) + 1 :]
    return Path(uri).relative_to(root).as_posix()


def copy_dir(src: str | os.PathLike, dst: str | os.PathLike) -> list[str]:
    """Copy every file under `src` to the same relative place under `dst`; returns the relative paths."""
    src, dst = str(src), str(dst)
    copied = []
    for uri in list_uris(src):
        rel = relative(uri, src)
        write_bytes(join(dst, *rel.split("/")), read_bytes(uri))
        copied.append(rel)
    return copied


def upload_dir(local_dir: str | os.PathLike, uri: str | os.PathLike) -> list[str]:
    if not Path(local_dir).is_dir():
        raise StorageError(f"{str(local_dir)!r} is not a folder")
    return copy_dir(local_dir, uri)


def download_dir(uri: str | os.PathLike, local_dir: str | os.PathLike) -> list[str]:
    copied = copy_dir(uri, local_dir)
    if not copied:
        raise StorageError(f"{str(uri)!r} holds no files")
    return copied


def manifest_of(local_dir: str | os.PathLike) -> dict[str, dict]:
    """{relative path: {sha256, size}} of every file under a local folder."""
    root = Path(local_dir)
    manifest = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in (MANIFEST, SUCCESS):
            continue
        data = path.read_bytes()
        manifest[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return manifest


def publish_dir(local_dir: str | os.PathLike, uri: str | os.PathLike) -> dict[str, dict]:
    """Copy a local folder to `uri` so that readers see all of it or none of it; returns the manifest.

    Publishing again to the same place replaces the old folder.
    """
    local_dir, uri = str(local_dir), str(uri)
    if not Path(local_dir).is_dir():
        raise StorageError(f"{local_dir!r} is not a folder")
    manifest = manifest_of(local_dir)
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    if is_gcs(uri):
        # GCS has no folder rename: withdraw the marker first, so nobody trusts a half-replaced folder.
        delete(join(uri, SUCCESS))
        for rel in manifest:
            write_bytes(join(uri, *rel.split("/")), (Path(local_dir) / rel).read_bytes())
        write_bytes(join(uri, MANIFEST), manifest_bytes)
        write_bytes(join(uri, SUCCESS), b"")
        return manifest
    _publish_local(local_dir, Path(uri), manifest_bytes)
    return manifest


def _publish_local(local_dir: str, dest: Path, manifest_bytes: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    staging = dest.parent / f".{dest.name}.publishing-{tag}"
    shutil.copytree(local_dir, staging, ignore=shutil.ignore_patterns(MANIFEST, SUCCESS))
    (staging / MANIFEST).write_bytes(manifest_bytes)
    (staging / SUCCESS).write_bytes(b"")
    old = dest.parent / f".{dest.name}.replaced-{tag}"
    if dest.exists():
        os.replace(dest, old)  # a directory rename cannot overwrite a non-empty directory
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


def is_published(uri: str | os.PathLike) -> bool:
    return exists(join(uri, SUCCESS))


def verify_published(uri: str | os.PathLike) -> dict[str, dict]:
    """Check a published folder against its manifest; returns the manifest or raises StorageError."""
    uri = str(uri)
    if not is_published(uri):
        raise StorageError(f"{uri!r} is not published: no {SUCCESS} marker")
    try:
        manifest = json.loads(read_bytes(join(uri, MANIFEST)))
    except (StorageError, ValueError) as e:
        raise StorageError(f"{uri!r} has no readable {MANIFEST}: {e}") from None
    for rel, expected in manifest.items():
        file_uri = join(uri, *rel.split("/"))
        try:
            data = read_bytes(file_uri)
        except StorageError:
            raise StorageError(
                f"{uri!r} is incomplete: {rel!r} is listed in {MANIFEST} but missing"
            ) from None
        if len(data) != expected["size"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise StorageError(f"{uri!r} is corrupt: {rel!r} does not match its sha256 in {MANIFEST}")
    return manifest


def _split(uri: str) -> tuple[str, str]:
    rest = uri[len(GS_SCHEME) :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} names no bucket (expected gs://bucket/path)")
    return bucket, key


def _blob(uri: str):
    bucket, key = _split(uri)
    if not key:
        raise StorageError(f"{uri!r} names a bucket, not an object")
    return _client().bucket(bucket).blob(key)


_clients: dict[str | None, object] = {}


def _client():
    """One client per emulator address, created on first use (no I/O at import)."""
    from google.cloud import storage as gcs

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator not in _clients:
        if emulator:
            from google.auth.credentials import AnonymousCredentials

            _clients[emulator] = gcs.Client(project="taxifare", credentials=AnonymousCredentials())
        else:
            _clients[emulator] = gcs.Client()
    return _clients[emulator]
