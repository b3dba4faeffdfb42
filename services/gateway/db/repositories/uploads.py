"""Uploads: images reserved with `POST /v1/uploads` and written through a presigned PUT."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import Upload


def add(session: AsyncSession, upload: Upload) -> None:
    session.add(upload)


async def get(session: AsyncSession, tenant_id: str, upload_id: str, for_update: bool = False) -> Upload | None:
    """The tenant's upload (None for another tenant's); `for_update` locks the row until the transaction ends."""
    query = select(Upload).where(Upload.id == upload_id, Upload.tenant_id == tenant_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def reserved_at(session: AsyncSession, tenant_id: str, upload_id: str, key: str) -> Upload | None:
    """The tenant's upload `upload_id` when it was reserved under exactly `key`."""
    return await session.scalar(select(Upload).where(Upload.id == upload_id, Upload.tenant_id == tenant_id,
                                                     Upload.key == key))


async def remove(session: AsyncSession, upload_id: str) -> None:
    await session.execute(delete(Upload).where(Upload.id == upload_id))


async def remove_keys(session: AsyncSession, tenant_id: str, keys: list[str]) -> None:
    """Delete the tenant's upload rows reserved under these keys."""
    await session.execute(delete(Upload).where(Upload.tenant_id == tenant_id, Upload.key.in_(keys)))
