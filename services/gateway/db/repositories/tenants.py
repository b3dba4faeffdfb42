"""Tenants and their API keys."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import ApiKey, Tenant


async def get(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


def add(session: AsyncSession, tenant: Tenant) -> None:
    session.add(tenant)


async def get_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    """A key by id, whichever tenant owns it."""
    return await session.get(ApiKey, key_id)


async def tenant_key(session: AsyncSession, tenant_id: str, key_id: str) -> ApiKey | None:
    """The tenant's key `key_id`, or None (another tenant's key is not found either)."""
    return await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id))


async def keys(session: AsyncSession, tenant_id: str) -> list[ApiKey]:
    """The tenant's keys, revoked ones included, in id order."""
    return list((await session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id)
                                       .order_by(ApiKey.id))).all())
