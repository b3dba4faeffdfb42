"""One contract, two object stores: every test here runs against the local-folder store and against
S3Store on a JuiceFS S3 gateway (which checks request signatures) that the test set-up starts."""
from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from shared.errors import InvalidInput, NotFound
from shared.events import ObjectRef
from shared.ids import random_hex
from shared.settings import Settings
from shared.store import (IntegrityError, StoreAuthError, check_tenant_key, delete_prefix, get_verified,
                          open_store, sha256_hex)
from shared.store.local import LocalStore
from shared.store.s3 import S3Store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class LocalUrls:
    """What the gateway does with a local store's presigned URL: check the signature, then read/write."""

    def __init__(self, store: LocalStore):
        self.store = store

    def _parse(self, url: str) -> tuple[str, int, str]:
        parsed = urllib.parse.urlsplit(url)
        key = urllib.parse.unquote(parsed.path.split("/v1/objects/", 1)[1])
        query = dict(urllib.parse.parse_qsl(parsed.query))
        return key, int(query["expires"]), query["signature"]

    def get(self, url: str) -> bytes:
        key, expires, signature = self._parse(url)
        self.store.verify_signature("GET", key, expires, signature)
        return self.store.get_bytes(key)

    def put(self, url: str, data: bytes, content_type: str) -> None:
        key, expires, signature = self._parse(url)
        self.store.verify_signature("PUT", key, expires, signature, content_type)
        self.store.put(key, data, content_type)


class S3Urls:
    def get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.read()

    def put(self, url: str, data: bytes, content_type: str) -> None:
        req = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


REFUSED = (NotFound, InvalidInput, urllib.error.HTTPError)


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    if request.param == "local":
        store = LocalStore(tmp_path / "objects", signing_key="test-key")
        return store, LocalUrls(store)
    server = request.getfixturevalue("s3_server")
    store = S3Store.connect(server.endpoint, server.access_key, server.secret_key, "facecast-contract")
    return store, S3Urls()


@pytest.fixture
def store(backend):
    return backend[0]


@pytest.fixture
def tenant():
    return f"t{random_hex(10)}"


def test_put_get_head_exists_metadata_delete(store, tenant):
    key = f"tenants/{tenant}/jobs/j1/1-swapper.png"
    ref = store.put(key, PNG, "image/png", metadata={"Job-Id": "j1", "step": "1"})
    assert ref == ObjectRef(key=key, content_type="image/png", sha256=sha256_hex(PNG), size=len(PNG))
    assert store.exists(key)
    assert store.get_bytes(key) == PNG
    assert store.head(key) == ref
    assert store.metadata(key) == {"job-id": "j1", "step": "1"}
    store.delete(key)
    assert not store.exists(key)
    assert store.head(key) is None


def test_missing_objects(store, tenant):
    key = f"tenants/{tenant}/nothing.png"
    assert not store.exists(key)
    assert store.head(key) is None
    with pytest.raises(NotFound, match="does not exist"):
        store.get_bytes(key)
    with pytest.raises(NotFound):
        store.metadata(key)
    store.delete(key)  # deleting what is not there is not an error


def test_overwrite_replaces_the_object(store, tenant):
    key = f"tenants/{tenant}/a.bin"
    store.put(key, b"one", "application/octet-stream")
    ref = store.put(key, b"two!", "application/octet-stream")
    assert store.get_bytes(key) == b"two!"
    assert store.head(key) == ref and ref.size == 4


def test_list_modified_gives_each_key_with_its_write_time(store, tenant):
    """What the orphan sweep reads: every key under the prefix with when it was last written."""
    before = time.time() - 5  # S3 servers round to the second
    keys = [f"tenants/{tenant}/uploads/upl_{i}.png" for i in range(2)]
    for key in keys:
        store.put(key, PNG, "image/png")
    listed = dict(store.list_modified(f"tenants/{tenant}/"))
    assert sorted(listed) == keys
    assert all(before <= modified <= time.time() + 5 for modified in listed.values())


def test_list_keys_by_prefix_sorted_and_delete_prefix(store, tenant):
    keys = [f"tenants/{tenant}/jobs/j2/{n}" for n in ("2-enhancer.png", "1-swapper.png", "1-swapper.outcome.json")]
    other = f"tenants/{tenant}/jobs/j3/1-swapper.png"
    for key in [*keys, other]:
        store.put(key, b"x", "application/octet-stream")
    assert store.list_keys(f"tenants/{tenant}/jobs/j2/") == sorted(keys)
    assert store.list_keys(f"tenants/{tenant}/") == sorted([*keys, other])
    assert store.list_keys(f"tenants/{tenant}x/") == []
    assert delete_prefix(store, f"tenants/{tenant}/jobs/j2/") == 3
    assert store.list_keys(f"tenants/{tenant}/") == [other]


def test_get_verified_checks_the_sha256_the_event_promised(store, tenant):
    key = f"tenants/{tenant}/jobs/j4/1-swapper.png"
    ref = store.put(key, PNG, "image/png")
    assert get_verified(store, ref) == PNG
    store.put(key, PNG[:-1] + b"\x00", "image/png")  # replaced behind the event's back
    with pytest.raises(IntegrityError, match="expected"):
        get_verified(store, ref)


@pytest.mark.parametrize("key", ["", "/etc/passwd", "tenants/t/../x", "tenants\\t\\x"])
def test_invalid_keys_are_refused(store, key):
    with pytest.raises(InvalidInput):
        store.put(key, b"x", "text/plain")
    with pytest.raises(InvalidInput):
        store.get_bytes(key)


def test_keys_outside_the_callers_tenant_prefix_are_refused(store, tenant):
    """The gateway passes every key a client names through check_tenant_key before touching the store."""
    other = f"tenants/{tenant}-other/jobs/j/1-swapper.png"
    store.put(other, b"secret", "image/png")
    mine = f"tenants/{tenant}/jobs/j/1-swapper.png"
    assert check_tenant_key(tenant, mine) == mine
    for key in (other, f"tenants/{tenant}/../{tenant}-other/jobs/j/1-swapper.png", "models/manifest.json",
                f"tenants/{tenant}//x", f"tenants/{tenant}"):
        with pytest.raises(NotFound):
            check_tenant_key(tenant, key)
    assert store.get_bytes(other) == b"secret"


def test_presigned_get_serves_the_object_and_a_tampered_url_is_refused(backend, tenant):
    store, urls = backend
    key = f"tenants/{tenant}/jobs/j5/2-enhancer.png"
    store.put(key, PNG, "image/png")
    url = store.presign_get(key, expires_s=600)
    assert urls.get(url) == PNG
    other = f"tenants/{tenant}/jobs/j5/1-swapper.png"
    store.put(other, b"other", "image/png")
    tampered = url.replace(urllib.parse.quote(key, safe="/"), urllib.parse.quote(other, safe="/"))
    assert tampered != url
    with pytest.raises(REFUSED):
        urls.get(tampered)


def test_presigned_put_stores_the_upload_with_its_content_type_only(backend, tenant):
    store, urls = backend
    key = f"tenants/{tenant}/uploads/u1.png"
    url = store.presign_put(key, "image/png", expires_s=600)
    urls.put(url, PNG, "image/png")
    assert store.get_bytes(key) == PNG
    assert store.head(key) == ObjectRef(key=key, content_type="image/png", sha256=sha256_hex(PNG), size=len(PNG))
    with pytest.raises(REFUSED):  # the URL was made for image/png
        urls.put(store.presign_put(f"tenants/{tenant}/uploads/u2.png", "image/png"), b"<html>", "text/html")
    assert not store.exists(f"tenants/{tenant}/uploads/u2.png")


def test_expired_presigned_url_is_refused(backend, tenant):
    store, urls = backend
    key = f"tenants/{tenant}/jobs/j6/1-swapper.png"
    store.put(key, PNG, "image/png")
    url = store.presign_get(key, expires_s=1)
    time.sleep(2.1)
    with pytest.raises(REFUSED):
        urls.get(url)


# ---- S3 specifics ------------------------------------------------------------------------------

def test_s3_refuses_wrong_credentials(s3_server):
    with pytest.raises(StoreAuthError, match="refused the credentials"):
        S3Store.connect(s3_server.endpoint, s3_server.access_key, s3_server.secret_key + "x", "facecast-contract")
    with pytest.raises(StoreAuthError, match="'nobody'"):
        S3Store.connect(s3_server.endpoint, "nobody", "nothing-at-all", "facecast-contract")


def test_s3_refuses_unsigned_access(s3_server, tenant):
    store = S3Store.connect(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, "facecast-contract")
    key = f"tenants/{tenant}/private.png"
    store.put(key, PNG, "image/png")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3_server.url}/facecast-contract/{key}", timeout=10)
    assert refused.value.code == 403


def test_s3_from_settings_creates_the_bucket(s3_server, tmp_path):
    bucket = f"fc-{random_hex(12)}"
    settings = Settings(store_backend="s3", s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
                        s3_secret_key=s3_server.secret_key, s3_bucket=bucket, data_dir=tmp_path)
    store = open_store(settings)
    assert isinstance(store, S3Store) and store.bucket == bucket
    assert store.client.bucket_exists(bucket)
    ref = store.put("tenants/t/x.png", PNG, "image/png")
    assert get_verified(S3Store.from_settings(settings), ref) == PNG  # a second client, same bucket


def test_non_ascii_metadata_is_refused(store, tenant):
    with pytest.raises(InvalidInput, match="ASCII"):
        store.put(f"tenants/{tenant}/m.png", b"x", "image/png", metadata={"title": "façade"})


def test_s3_refuses_an_invalid_bucket_name(s3_server):
    with pytest.raises(InvalidInput, match="invalid bucket name"):
        S3Store.connect(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, "B")


def test_s3_presigned_urls_are_signed_for_the_public_endpoint(s3_server, tmp_path):
    """Shops' browsers reach the store at another host than the services do."""
    settings = Settings(store_backend="s3", s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
                        s3_secret_key=s3_server.secret_key, s3_bucket="facecast-contract", data_dir=tmp_path,
                        s3_public_endpoint="media.shop.example:443")
    store = open_store(settings)
    ref = store.put("tenants/t/public.png", PNG, "image/png")
    for url in (store.presign_get(ref.key), store.presign_put(ref.key, "image/png")):
        assert url.startswith("http://media.shop.example:443/facecast-contract/tenants/t/public.png?")
    internal = open_store(settings.model_copy(update={"s3_public_endpoint": ""}))
    assert urllib.request.urlopen(internal.presign_get(ref.key), timeout=10).read() == PNG
