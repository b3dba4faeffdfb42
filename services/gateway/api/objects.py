"""`/v1/objects/{key}`: serves the local store's presigned URLs (embedded mode; S3 serves its own).
The rules (signature first, PUT only to a reserved upload, once) are `services.gateway.domain.objects`."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.gateway.api.deps import ReadSessions, SettingsDep, StoreDep
from services.gateway.domain import objects

router = APIRouter(prefix="/v1/objects", tags=["objects"])
Expires = Annotated[int, Query(ge=0, le=2**40)]
Signature = Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]


@router.get("/{key:path}", summary="Download an object through a presigned URL",
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def get_object(key: str, expires: Expires, signature: Signature, store: StoreDep) -> Response:
    data, media_type = await objects.get_object(store, key, expires, signature)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.put("/{key:path}", status_code=200, summary="Upload an object through a presigned URL",
            description="Writes the image of an upload reserved with `POST /v1/uploads`, once: a second PUT to an "
                        "upload whose image is stored answers 409 `upload-already-written` (jobs that used the "
                        "upload keep reading the bytes they were checked against); reserve a new upload instead. "
                        "The signature is checked first: a wrong one answers 404 whether or not the upload exists.")
async def put_object(key: str, expires: Expires, signature: Signature, request: Request, reader: ReadSessions,
                     store: StoreDep, settings: SettingsDep) -> dict:
    ref = await objects.put_upload(reader, store, settings, key, expires, signature,
                                   request.headers.get("content-type", ""), request.stream())
    return {"key": ref.key, "sha256": ref.sha256, "size": ref.size}
