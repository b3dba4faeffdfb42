"""Uploads: a presigned PUT straight to the object store, for large photos from store plugins.

An upload belongs to no job: any number of jobs may use it, and it lives until it is deleted or the tenant's
retention period ends, whatever happens to those jobs. Its image is written once (`domain.objects`)."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.db.models import Upload
from services.gateway.db.repositories import uploads as repository
from shared.errors import NotFound
from shared.ids import new_id, utcnow
from shared.settings import Settings
from shared.store import ObjectStore

EXTENSION = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def upload_view(settings: Settings, store: ObjectStore, upload: Upload) -> dict:
    """`UploadOut`: a fresh presigned PUT URL valid for `settings.presign_expires_s` and the header to send."""
    expires_s = settings.presign_expires_s
    return {"id": upload.id, "key": upload.key, "method": "PUT",
            "url": store.presign_put(upload.key, upload.content_type, expires_s),
            "headers": {"Content-Type": upload.content_type},
            "expires_at": utcnow() + timedelta(seconds=expires_s)}


async def create_upload(sessions: async_sessionmaker, tenant_id: str, content_type: str) -> Upload:
    """Reserve `tenants/<tenant>/uploads/<upload id>.<ext>` for an image of `content_type`."""
    upload_id = new_id("upl")
    upload = Upload(id=upload_id, tenant_id=tenant_id, content_type=content_type,
                    key=f"tenants/{tenant_id}/uploads/{upload_id}.{EXTENSION[content_type]}")
    async with sessions() as session, session.begin():
        repository.add(session, upload)
    return upload


async def get_upload(session: AsyncSession, tenant_id: str, upload_id: str) -> Upload:
    """The tenant's upload; NotFound otherwise."""
    upload = await repository.get(session, tenant_id, upload_id)
    if upload is None:
        raise NotFound(f"upload {upload_id!r} does not exist")
    return upload


async def delete_upload(sessions: async_sessionmaker, store: ObjectStore, tenant_id: str, upload_id: str) -> None:
    """Delete the upload's row, then its image (jobs that used it keep their own results)."""
    async with sessions() as session, session.begin():
        upload = await repository.get(session, tenant_id, upload_id, for_update=True)
        if upload is None:
            raise NotFound(f"upload {upload_id!r} does not exist")
        await repository.remove(session, upload_id)
    await asyncio.to_thread(store.delete, upload.key)


async def find_upload(session: AsyncSession, key: str) -> Upload | None:
    """The upload reserved under `key` (`tenants/<tenant>/uploads/<id>.<ext>`) in its own tenant's prefix, if any."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "tenants" and parts[2] == "uploads":
        return await repository.reserved_at(session, parts[1], parts[3].split(".", 1)[0], key)
    return None
