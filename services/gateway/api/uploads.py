"""`/v1/uploads`: a presigned PUT straight to the object store, for large photos from store plugins.

An upload belongs to no job: any number of jobs may use it, and it lives until `DELETE /v1/uploads/{id}` or
the tenant's retention period, whatever happens to those jobs. Its image is written once: a second PUT answers
409 `upload-already-written` (the jobs were checked against the first bytes); reserve a new upload instead."""
from __future__ import annotations

from datetime import timedelta

import asyncio

from fastapi import APIRouter, Response
from sqlalchemy import delete, select

from services.gateway.api.deps import GatewayDep, Reader, Writer
from services.gateway.db.models import Upload
from services.gateway.schemas import UploadCreate, UploadOut
from shared.errors import NotFound
from shared.ids import new_id, utcnow

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
EXTENSION = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def upload_view(gw, upload: Upload) -> dict:
    expires_s = gw.settings.presign_expires_s
    return {"id": upload.id, "key": upload.key, "method": "PUT",
            "url": gw.store.presign_put(upload.key, upload.content_type, expires_s),
            "headers": {"Content-Type": upload.content_type},
            "expires_at": utcnow() + timedelta(seconds=expires_s)}


@router.post("", status_code=201, response_model=UploadOut,
             summary="Reserve an upload: PUT the image to `url` with the given headers, then use `upload_id` in a job")
async def create_upload(body: UploadCreate, gw: GatewayDep, caller: Writer) -> dict:
    upload_id = new_id("upl")
    upload = Upload(id=upload_id, tenant_id=caller.tenant_id, content_type=body.content_type,
                    key=f"tenants/{caller.tenant_id}/uploads/{upload_id}.{EXTENSION[body.content_type]}")
    async with gw.sessionmaker() as session, session.begin():
        session.add(upload)
    return upload_view(gw, upload)


@router.get("/{upload_id}", response_model=UploadOut, summary="A fresh PUT URL for an upload")
async def get_upload(upload_id: str, gw: GatewayDep, caller: Reader) -> dict:
    async with gw.reader() as session:
        upload = await session.scalar(select(Upload).where(Upload.id == upload_id,
                                                           Upload.tenant_id == caller.tenant_id))
    if upload is None:
        raise NotFound(f"upload {upload_id!r} does not exist")
    return upload_view(gw, upload)


@router.delete("/{upload_id}", status_code=204, summary="Delete an upload's image now (jobs that used it keep "
               "their results)")
async def delete_upload(upload_id: str, gw: GatewayDep, caller: Writer) -> Response:
    async with gw.sessionmaker() as session, session.begin():
        upload = await session.scalar(select(Upload).where(Upload.id == upload_id,
                                                           Upload.tenant_id == caller.tenant_id).with_for_update())
        if upload is None:
            raise NotFound(f"upload {upload_id!r} does not exist")
        await session.execute(delete(Upload).where(Upload.id == upload_id))
    await asyncio.to_thread(gw.store.delete, upload.key)
    return Response(status_code=204)
