"""`/v1/objects/{key}`: serves the local store's presigned URLs (embedded mode; S3 serves its own).

The signature is the authorisation: it names the method, key, expiry (and for PUT the content type).
A PUT writes only an upload reserved with `POST /v1/uploads`, under its own tenant's prefix, whatever the
signature: a leaked or forged signature cannot overwrite a portrait or a result, or write outside
`tenants/`. An upload PUT is checked like any image (magic bytes, pixel limit) before it is stored, and an
upload is written once (409 `upload-already-written` after that): the jobs that use it were checked against
its bytes. The signature is checked before anything is looked up: a wrong one answers 404 either way.
"""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from services.gateway.api.deps import GatewayDep
from services.gateway.db.models import Upload
from shared.errors import FaceCastError, InvalidInput, NotFound, PayloadTooLarge, UnsupportedImage
from shared.images import CONTENT_TYPES, check_header
from shared.store import validate_key

router = APIRouter(prefix="/v1/objects", tags=["objects"])
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "json": "application/json",
               "npy": "application/x-npy"}


class PutRefused(FaceCastError):
    """A presigned PUT to a key that is not a reserved upload (whatever its signature)."""
    code = "put-refused"
    http_status = 403


Expires = Annotated[int, Query(ge=0, le=2**40)]
Signature = Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]


def _verify(gw, method: str, key: str, expires: int, signature: str, content_type: str = "") -> None:
    verify = getattr(gw.store, "verify_signature", None)
    if verify is None:
        raise NotFound("objects are served by the object store in this deployment")
    try:
        validate_key(key)
    except InvalidInput:  # NUL, a folder, a climb: no object has that name
        raise NotFound(f"object {key!r} does not exist") from None
    verify(method, key, expires, signature, content_type)


async def find_upload(gw, key: str) -> Upload | None:
    """The upload reserved under `key` in its own tenant's prefix, if any."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "tenants" and parts[2] == "uploads":
        upload_id = parts[3].split(".", 1)[0]
        async with gw.reader() as session:
            return await session.scalar(select(Upload).where(Upload.id == upload_id, Upload.tenant_id == parts[1],
                                                             Upload.key == key))
    return None


async def reserved_upload(gw, key: str) -> Upload:
    """The upload reserved under `key` in its own tenant's prefix; a PUT anywhere else is refused."""
    upload = await find_upload(gw, key)
    if upload is not None:
        return upload
    raise PutRefused(f"{key!r} is not an upload reserved with POST /v1/uploads; presigned PUT URLs write only "
                    "those", key=key)


@router.get("/{key:path}", summary="Download an object through a presigned URL",
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def get_object(key: str, expires: Expires, signature: Signature, gw: GatewayDep) -> Response:
    _verify(gw, "GET", key, expires, signature)
    data = await asyncio.to_thread(gw.store.get_bytes, key)
    media_type = MEDIA_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


class UploadWritten(FaceCastError):
    """A presigned PUT to an upload whose image is already stored: an upload is written once."""
    code = "upload-already-written"
    http_status = 409


_writing: set[str] = set()  # upload keys a PUT is writing now (a second PUT at once gets 409)


def _signed_by_us(gw, method: str, key: str, expires: int, signature: str, content_type: str) -> bool:
    try:
        _verify(gw, method, key, expires, signature, content_type)
    except NotFound:
        return False
    return True


@router.put("/{key:path}", status_code=200, summary="Upload an object through a presigned URL",
            description="Writes the image of an upload reserved with `POST /v1/uploads`, once: a second PUT to an "
                        "upload whose image is stored answers 409 `upload-already-written` (jobs that used the "
                        "upload keep reading the bytes they were checked against); reserve a new upload instead. "
                        "The signature is checked first: a wrong one answers 404 whether or not the upload exists.")
async def put_object(key: str, expires: Expires, signature: Signature, request: Request, gw: GatewayDep) -> dict:
    content_type = request.headers.get("content-type", "")
    try:
        validate_key(key)
    except InvalidInput:
        raise NotFound(f"object {key!r} does not exist") from None
    # the signature first: a wrong one gets one answer (404), whether or not an upload has this key
    if not _signed_by_us(gw, "PUT", key, expires, signature, content_type):
        upload = await find_upload(gw, key)
        if (upload is not None and content_type != upload.content_type
                and _signed_by_us(gw, "PUT", key, expires, signature, upload.content_type)):
            # a genuine URL sent with another header: say which one
            raise UnsupportedImage(f"this upload was reserved as {upload.content_type}: send the header "
                                   f"`Content-Type: {upload.content_type}` (got {content_type or 'none'!r})",
                                   expected=upload.content_type)
        _verify(gw, "PUT", key, expires, signature, content_type)  # raises the usual 404 (or expiry)
    upload = await reserved_upload(gw, key)
    if await asyncio.to_thread(gw.store.exists, key) or key in _writing:
        raise _already_written(upload)
    _writing.add(key)  # no await between the check and this: one writer per key in this process
    try:
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > gw.settings.max_upload_bytes:
                raise PayloadTooLarge(f"the upload is larger than {gw.settings.max_upload_bytes:,} bytes, the "
                                      "limit (FACECAST_MAX_UPLOAD_BYTES)", limit=gw.settings.max_upload_bytes)
        if not data:
            raise UnsupportedImage("the upload is empty")
        fmt = check_header(bytes(data), gw.settings.max_pixels)
        if CONTENT_TYPES[fmt] != content_type:
            raise UnsupportedImage(f"the upload is {CONTENT_TYPES[fmt]} but was announced as {content_type}")
        if await asyncio.to_thread(gw.store.exists, key):  # written meanwhile (another gateway process)
            raise _already_written(upload)
        ref = await asyncio.to_thread(gw.store.put, key, bytes(data), content_type)
    finally:
        _writing.discard(key)
    return {"key": ref.key, "sha256": ref.sha256, "size": ref.size}


def _already_written(upload: Upload) -> UploadWritten:
    return UploadWritten(f"upload {upload.id!r} already has its image; an upload is written once (jobs using it "
                         "read those bytes): reserve a new upload with POST /v1/uploads for another image",
                         upload_id=upload.id)
