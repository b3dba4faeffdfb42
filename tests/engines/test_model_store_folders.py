"""The model store holds folders of weight files (a diffusers pipeline) as well as single files: every file
hashed and recorded, one folder hash, files from a bucket copied into the cache and verified (issue 17)."""
from __future__ import annotations

import io
import zipfile

import pytest

from shared.errors import EngineUnavailable, InvalidInput, WeightsMismatch
from shared.licence_terms import use_restrictions
from shared.store.local import LocalStore
from shared.weights import ModelStore, file_sha256, folder_sha256

PROVENANCE = dict(licence="CreativeML-OpenRAIL-M", commercial_use=True, source="written by the test")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "pipeline"
    (root / "unet").mkdir(parents=True)
    (root / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (root / "unet" / "config.json").write_text('{"sample_size": 64}')
    (root / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(bytes(range(256)) * 4)
    (root / ".cache").mkdir()
    (root / ".cache" / "lock").write_text("left by a download tool")
    return root


def test_a_folder_is_recorded_file_by_file(tmp_path, folder):
    store = ModelStore(root=tmp_path / "models")
    record = store.import_folder("pipe", folder, **PROVENANCE)
    expected = {"model_index.json": file_sha256(folder / "model_index.json"),
                "unet/config.json": file_sha256(folder / "unet" / "config.json"),
                "unet/diffusion_pytorch_model.safetensors":
                    file_sha256(folder / "unet" / "diffusion_pytorch_model.safetensors")}
    assert record.files == expected and record.sha256 == folder_sha256(expected)  # hidden files left out
    assert store.records()["pipe"] == record and record.public()["files"] == 3 and "file" not in record.public()
    assert store.path("pipe") == store.root / "pipe" and store.unavailable("pipe") is None
    assert (store.path("pipe") / "unet" / "config.json").read_text() == '{"sample_size": 64}'
    assert [name for name, ok, _ in store.verify() if ok] == ["pipe"]


def test_folder_files_come_from_the_bucket_and_are_verified(tmp_path, folder):
    bucket = LocalStore(tmp_path / "bucket")
    writer = ModelStore(root=tmp_path / "operator-cache", bucket_store=bucket)
    writer.import_folder("pipe", folder, **PROVENANCE)
    worker = ModelStore(root=tmp_path / "worker-cache", bucket_store=bucket)
    assert worker.unavailable("pipe") is None
    local = worker.path("pipe")
    assert local == tmp_path / "worker-cache" / "pipe" and (local / "model_index.json").is_file()
    bucket.put("pipe/unet/config.json", b'{"sample_size": 128}', "application/json")
    (local / "unet" / "config.json").unlink()  # fetched again from the bucket, and found changed
    with pytest.raises(WeightsMismatch, match="unet/config.json"):
        worker.path("pipe")
    bucket.delete("pipe/model_index.json")
    (local / "model_index.json").unlink()
    with pytest.raises(EngineUnavailable, match="model_index.json"):
        worker.path("pipe")


def test_a_zip_imports_like_its_folder_and_unsafe_members_are_refused(tmp_path, folder):
    store = ModelStore(root=tmp_path / "models")
    archive = tmp_path / "pipe.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in folder.rglob("*"):
            if path.is_file() and ".cache" not in path.parts:
                bundle.write(path, f"pipeline/{path.relative_to(folder).as_posix()}")
    assert store.import_archive("zipped", archive, **PROVENANCE).sha256 == store.import_folder(
        "plain", folder, **PROVENANCE).sha256
    unsafe = tmp_path / "unsafe.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("../outside.json", "{}")
    unsafe.write_bytes(buffer.getvalue())
    with pytest.raises(InvalidInput, match="outside"):
        store.import_archive("unsafe", unsafe, **PROVENANCE)
    with pytest.raises(InvalidInput, match="not a folder"):
        store.import_folder("nothing", tmp_path / "missing", **PROVENANCE)


@pytest.mark.parametrize("licence, family", [("CreativeML-OpenRAIL-M", "CreativeML OpenRAIL-M"),
                                             ("CreativeML Open RAIL++-M", "CreativeML Open RAIL++-M"),
                                             ("OpenRAIL++", "CreativeML Open RAIL++-M"),
                                             ("Apache-2.0", "Apache-2.0")])
def test_use_restrictions_are_known_by_licence(licence, family):
    terms = use_restrictions(licence)
    assert terms["licence"] == family and terms["link"].startswith("https://") and terms["summary"]
    assert use_restrictions("MIT") is None
