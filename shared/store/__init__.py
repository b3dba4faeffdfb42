"""Object store: one interface, a local-folder implementation (embedded default) and S3/MinIO.

Images never travel in events; they live here under tenant-prefixed keys
(`tenants/<tenant>/jobs/<job>/<step>-<stage>.<ext>`). Reads check the sha256 the event promised.
"""
from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

from shared.errors import FaceCastError, InvalidInput, NotFound
from shared.events import ObjectRef


class IntegrityError(FaceCastError):
    code = "object-integrity"
    retryable = True  # a torn or stale read may succeed on the next attempt


class StoreAuthError(FaceCastError):
    """The object store refused our credentials (wrong access key or secret)."""
    code = "store-auth"
    http_status = 503


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@runtime_checkable
class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> ObjectRef: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def head(self, key: str) -> ObjectRef | None: ...
    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata given to `put` (ASCII keys and values; keys lower-cased)."""
    def delete(self, key: str) -> None: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def list_modified(self, prefix: str) -> list[tuple[str, float]]:
        """(key, last-modified unix time) of every object under the prefix: the orphan sweep's view."""
    def presign_get(self, key: str, expires_s: int = 3600) -> str: ...
    def presign_put(self, key: str, content_type: str, expires_s: int = 3600) -> str: ...


def get_verified(store: ObjectStore, ref: ObjectRef) -> bytes:
    """Read an object and check it is the one the event refers to."""
    data = store.get_bytes(ref.key)
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise IntegrityError(f"object {ref.key} has sha256 {actual[:12]}…, expected {ref.sha256[:12]}…")
    return data


def delete_prefix(store: ObjectStore, prefix: str, keep: frozenset[str] = frozenset()) -> int:
    keys = [key for key in store.list_keys(prefix) if key not in keep]
    for key in keys:
        store.delete(key)
    return len(keys)


def tenant_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/"


def check_tenant_key(tenant_id: str, key: str) -> str:
    """Refuse a key outside the caller's tenant prefix (or one that tries to climb out of it)."""
    if not key.startswith(tenant_prefix(tenant_id)) or ".." in key.split("/") or "//" in key:
        raise NotFound(f"object {key!r} does not exist")
    return key


def validate_key(key: str) -> str:
    """A key names one object: no empty, `.` or `..` segment (a folder, or a climb out of the store), no
    backslash, NUL or other control character (which no filesystem or S3 key should carry)."""
    segments = key.split("/")
    if (not key or any(s in ("", ".", "..") for s in segments) or "\\" in key
            or any(ord(c) < 32 or ord(c) == 127 for c in key)):
        raise InvalidInput(f"invalid object key {key!r}")
    return key


def job_object_key(tenant_id: str, job_id: str, step: int, stage: str, ext: str) -> str:
    return f"tenants/{tenant_id}/jobs/{job_id}/{step}-{stage}.{ext}"


def cancel_marker_key(tenant_id: str, job_id: str) -> str:
    """Written by the gateway when a job is canceled; stages skip the job's remaining steps."""
    return f"tenants/{tenant_id}/jobs/{job_id}/canceled"


def open_store(settings) -> ObjectStore:
    """The store named by settings: `local` (a folder) or `s3` (MinIO or any S3 server)."""
    if settings.store_backend == "s3":
        from shared.store.s3 import S3Store

        return S3Store.from_settings(settings, bucket=settings.s3_bucket)
    from shared.store.local import LocalStore
    from shared.store.signing import signing_keys

    return LocalStore(settings.data_dir / "objects", signing_key=signing_keys(settings),
                      public_url=settings.public_url)
