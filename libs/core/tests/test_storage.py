import json

import pytest

from taxifare.core import storage
from taxifare.core.storage import StorageError
from taxifare.core.testing_gcs import TEST_BUCKET_URI


@pytest.fixture(params=["local", "gcs"])
def root(request, tmp_path):
    """A writable place, once as a local folder and once as a gs:// prefix on the emulator."""
    if request.param == "local":
        return str(tmp_path / "store")
    request.getfixturevalue("gcs_emulator")  # serves the test bucket
    return storage.join(TEST_BUCKET_URI, "store")


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    (folder / "saved_model" / "variables").mkdir(parents=True)
    (folder / "saved_model" / "saved_model.pb").write_bytes(b"graph" * 100)
    (folder / "saved_model" / "variables" / "variables.data").write_bytes(bytes(range(256)))
    (folder / "metrics.json").write_text('{"rmse": 3.2}')
    return folder


def test_bytes_round_trip_and_listing(root):
    storage.write_bytes(storage.join(root, "a", "b.txt"), b"hello")
    storage.write_bytes(storage.join(root, "c.txt"), b"world")
    assert storage.read_bytes(storage.join(root, "a", "b.txt")) == b"hello"
    assert storage.exists(storage.join(root, "c.txt"))
    assert not storage.exists(storage.join(root, "missing.txt"))
    listed = [storage.relative(u, root) for u in storage.list_uris(root)]
    assert listed == ["a/b.txt", "c.txt"]


def test_write_replaces_whole_file(root):
    uri = storage.join(root, "x.bin")
    storage.write_bytes(uri, b"old content")
    storage.write_bytes(uri, b"new")
    assert storage.read_bytes(uri) == b"new"
    assert len(storage.list_uris(root)) == 1  # no temp file left behind


def test_reading_a_missing_file_names_it(root):
    uri = storage.join(root, "nope.parquet")
    with pytest.raises(StorageError, match=r"nope\.parquet.*does not exist"):
        storage.read_bytes(uri)


def test_listing_an_absent_prefix_is_empty(root):
    assert storage.list_uris(storage.join(root, "empty")) == []


def test_upload_and_download_dir(root, model_dir, tmp_path):
    storage.upload_dir(model_dir, storage.join(root, "m"))
    back = tmp_path / "back"
    copied = storage.download_dir(storage.join(root, "m"), back)
    assert sorted(copied) == [
        "metrics.json",
        "saved_model/saved_model.pb",
        "saved_model/variables/variables.data",
    ]
    assert (back / "saved_model" / "variables" / "variables.data").read_bytes() == bytes(range(256))


def test_download_of_nothing_is_an_error(root, tmp_path):
    with pytest.raises(StorageError, match="holds no files"):
        storage.download_dir(storage.join(root, "nothing"), tmp_path / "x")


def test_publish_then_verify(root, model_dir):
    dest = storage.join(root, "v1")
    assert not storage.is_published(dest)
    manifest = storage.publish_dir(model_dir, dest)
    assert storage.is_published(dest)
    assert storage.verify_published(dest) == manifest
    assert manifest["metrics.json"]["size"] == len('{"rmse": 3.2}')
    stored = json.loads(storage.read_bytes(storage.join(dest, "MANIFEST.json")))
    assert set(stored) == {
        "metrics.json",
        "saved_model/saved_model.pb",
        "saved_model/variables/variables.data",
    }


def test_republish_replaces_the_old_folder(root, model_dir):
    dest = storage.join(root, "v1")
    storage.publish_dir(model_dir, dest)
    (model_dir / "metrics.json").write_text('{"rmse": 2.9}')
    storage.publish_dir(model_dir, dest)
    assert storage.read_bytes(storage.join(dest, "metrics.json")) == b'{"rmse": 2.9}'
    storage.verify_published(dest)


def test_verify_names_a_missing_file(root, model_dir):
    dest = storage.join(root, "v1")
    storage.publish_dir(model_dir, dest)
    storage.delete(storage.join(dest, "saved_model", "saved_model.pb"))
    with pytest.raises(StorageError, match=r"saved_model/saved_model\.pb.*missing"):
        storage.verify_published(dest)


def test_verify_names_a_changed_file(root, model_dir):
    dest = storage.join(root, "v1")
    storage.publish_dir(model_dir, dest)
    storage.write_bytes(storage.join(dest, "metrics.json"), b'{"rmse": 0.1}')
    with pytest.raises(StorageError, match=r"metrics\.json.*sha256"):
        storage.verify_published(dest)


def test_unpublished_folder_is_refused(root):
    storage.write_bytes(storage.join(root, "half", "a.txt"), b"a")
    with pytest.raises(StorageError, match="not published"):
        storage.verify_published(storage.join(root, "half"))


def test_local_publish_leaves_no_staging_folder(tmp_path, model_dir):
    storage.publish_dir(model_dir, tmp_path / "models" / "v1")
    storage.publish_dir(model_dir, tmp_path / "models" / "v1")
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["v1"]


def test_gs_uri_without_bucket_is_refused():
    with pytest.raises(StorageError, match="names no bucket"):
        storage.read_bytes("gs:///x")
