"""`/v1/uploads`: a presigned PUT straight to the object store, for large photos from store plugins.

An upload belongs to no job: any number of jobs may use it, and it lives until `DELETE /v1/uploads/{id}` or
the tenant's retention period, whatever happens to those jobs. Its image is written once: a second PUT answers
409 `upload-already-written` (the jobs were checked against the first bytes); reserve a new upload instead."""
from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.api.deps import ReadSessions, Reader, Sessions, SettingsDep, StoreDep, Writer
from services.gateway.domain import uploads
from services.gateway.schemas import UploadCreate, UploadOut

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])


@router.post("", status_code=201, response_model=UploadOut,
             summary="Reserve an upload: PUT the image to `url` with the given headers, then use `upload_id` in a job")
async def create_upload(body: UploadCreate, sessions: Sessions, settings: SettingsDep, store: StoreDep,
                        caller: Writer) -> dict:
    upload = await uploads.create_upload(sessions, caller.tenant_id, body.content_type)
    return uploads.upload_view(settings, store, upload)


@router.get("/{upload_id}", response_model=UploadOut, summary="A fresh PUT URL for an upload")
async def get_upload(upload_id: str, reader: ReadSessions, settings: SettingsDep, store: StoreDep,
                     caller: Reader) -> dict:
    async with reader() as session:
        upload = await uploads.get_upload(session, caller.tenant_id, upload_id)
    return uploads.upload_view(settings, store, upload)


@router.delete("/{upload_id}", status_code=204, summary="Delete an upload's image now (jobs that used it keep "
               "their results)")
async def delete_upload(upload_id: str, sessions: Sessions, store: StoreDep, caller: Writer) -> Response:
    await uploads.delete_upload(sessions, store, caller.tenant_id, upload_id)
    return Response(status_code=204)
