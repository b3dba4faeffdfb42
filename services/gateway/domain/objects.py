"""Objects through the local store's presigned URLs (embedded mode; S3 serves its own).

The signature is the authorisation: it names the method, key, expiry (and for PUT the content type).
A PUT writes only an upload reserved with `POST /v1/uploads`, under its own tenant's prefix, whatever the
signature: a leaked or forged signature cannot overwrite a portrait or a result, or write outside
`tenants/`. An upload PUT is checked like any image (magic bytes, pixel limit) before it is stored, and an
upload is written once (409 `upload-already-written` after that): the jobs that use it were checked against
its bytes. The signature is checked before anything is looked up: a wrong one answers 404 either way.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from services.gateway.db.models import Upload
from services.gateway.domain.uploads import find_upload
from shared.errors import FaceCastError, InvalidInput, NotFound, PayloadTooLarge, UnsupportedImage
from shared.events import ObjectRef
from shared.ids import utcnow
from shared.images import CONTENT_TYPES, check_header
from shared.settings import Settings
from shared.store import ObjectStore, validate_key

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "json": "application/json",
               "npy": "application/x-npy"}


class PutRefused(FaceCastError):
    """A presigned PUT to a key that is not a reserved upload (whatever its signature)."""
    code = "put-refused"
    http_status = 403


class UploadWritten(FaceCastError):
    """A presigned PUT to an upload whose image is already stored: an upload is written once."""
    code = "upload-already-written"
    http_status = 409


_writing: set[str] = set()  # upload keys a PUT is writing now (a second PUT at once gets 409)


def object_view(store: ObjectStore, settings: Settings, ref: dict | None, purged: bool,
                expires_s: int | None = None) -> dict | None:
    """An ObjectRef as the API shows it: with a presigned GET `url` valid `expires_s` seconds (default
    `settings.presign_expires_s`) and `url_expires_at`; both None once the objects were purged."""
    if ref is None:
        return None
    if purged:
        return {**ref, "url": None, "url_expires_at": None}
    expires_s = expires_s or settings.presign_expires_s
    return {**ref, "url": store.presign_get(ref["key"], expires_s),
            "url_expires_at": utcnow() + timedelta(seconds=expires_s)}


def verify(store: ObjectStore, method: str, key: str, expires: int, signature: str, content_type: str = "") -> None:
    """Check a presigned URL's signature (raises NotFound for a key no object can have, or a store that does
    not sign URLs itself; the store's own error for a wrong or expired signature)."""
    check = getattr(store, "verify_signature", None)
    if check is None:
        raise NotFound("objects are served by the object store in this deployment")
    try:
        validate_key(key)
    except InvalidInput:  # NUL, a folder, a climb: no object has that name
        raise NotFound(f"object {key!r} does not exist") from None
    check(method, key, expires, signature, content_type)


def _signed_by_us(store: ObjectStore, method: str, key: str, expires: int, signature: str, content_type: str) -> bool:
    try:
        verify(store, method, key, expires, signature, content_type)
    except NotFound:
        return False
    return True


async def get_object(store: ObjectStore, key: str, expires: int, signature: str) -> tuple[bytes, str]:
    """The object's bytes and media type, through a presigned GET."""
    verify(store, "GET", key, expires, signature)
    data = await asyncio.to_thread(store.get_bytes, key)
    return data, MEDIA_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


async def reserved_upload(reader: async_sessionmaker, key: str) -> Upload:
    """The upload reserved under `key` in its own tenant's prefix; a PUT anywhere else is refused (PutRefused)."""
    async with reader() as session:
        upload = await find_upload(session, key)
    if upload is not None:
        return upload
    raise PutRefused(f"{key!r} is not an upload reserved with POST /v1/uploads; presigned PUT URLs write only "
                     "those", key=key)


async def put_upload(reader: async_sessionmaker, store: ObjectStore, settings: Settings, key: str, expires: int,
                     signature: str, content_type: str, body: AsyncIterator[bytes]) -> ObjectRef:
    """Write a reserved upload's image through a presigned PUT, once.

    Errors: NotFound (a wrong signature, whether or not the upload exists), UnsupportedImage (a genuine URL
    sent with another Content-Type, naming the reserved one; an empty body; bytes that are not the announced
    format), PutRefused (not a reserved upload), UploadWritten (already written), PayloadTooLarge
    (`settings.max_upload_bytes`), and `check_header`'s pixel limit (`settings.max_pixels`)."""
    try:
        validate_key(key)
    except InvalidInput:
        raise NotFound(f"object {key!r} does not exist") from None
    # the signature first: a wrong one gets one answer (404), whether or not an upload has this key
    if not _signed_by_us(store, "PUT", key, expires, signature, content_type):
        async with reader() as session:
            upload = await find_upload(session, key)
        if (upload is not None and content_type != upload.content_type
                and _signed_by_us(store, "PUT", key, expires, signature, upload.content_type)):
            # a genuine URL sent with another header: say which one
            raise UnsupportedImage(f"this upload was reserved as {upload.content_type}: send the header "
                                   f"`Content-Type: {upload.content_type}` (got {content_type or 'none'!r})",
                                   expected=upload.content_type)
        verify(store, "PUT", key, expires, signature, content_type)  # raises the usual 404 (or expiry)
    upload = await reserved_upload(reader, key)
    if await asyncio.to_thread(store.exists, key) or key in _writing:
        raise _already_written(upload)
    _writing.add(key)  # no await between the check and this: one writer per key in this process
    try:
        data = bytearray()
        async for chunk in body:
            data.extend(chunk)
            if len(data) > settings.max_upload_bytes:
                raise PayloadTooLarge(f"the upload is larger than {settings.max_upload_bytes:,} bytes, the "
                                      "limit (FACECAST_MAX_UPLOAD_BYTES)", limit=settings.max_upload_bytes)
        if not data:
            raise UnsupportedImage("the upload is empty")
        fmt = check_header(bytes(data), settings.max_pixels)
        if CONTENT_TYPES[fmt] != content_type:
            raise UnsupportedImage(f"the upload is {CONTENT_TYPES[fmt]} but was announced as {content_type}")
        if await asyncio.to_thread(store.exists, key):  # written meanwhile (another gateway process)
            raise _already_written(upload)
        return await asyncio.to_thread(store.put, key, bytes(data), content_type)
    finally:
        _writing.discard(key)


def _already_written(upload: Upload) -> UploadWritten:
    return UploadWritten(f"upload {upload.id!r} already has its image; an upload is written once (jobs using it "
                         "read those bytes): reserve a new upload with POST /v1/uploads for another image",
                         upload_id=upload.id)
