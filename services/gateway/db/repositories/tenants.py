"""Tenants and their API keys."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import ApiKey, Tenant


async def get(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


def add(session: AsyncSession, tenant: Tenant) -> None:
    session.add(tenant)


async def named(session: AsyncSession, name: str) -> Tenant | None:
    """The oldest tenant with this name (names are not unique; ids are time-ordered)."""
    return await session.scalar(select(Tenant).where(Tenant.name == name).order_by(Tenant.id).limit(1))


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


async def revoke_keys_named(session: AsyncSession, tenant_id: str, name_prefix: str, at: datetime) -> None:
    """Revoke, as of `at`, the tenant's live keys whose name starts with `name_prefix`."""
    await session.execute(update(ApiKey).where(
        ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None),
        ApiKey.name.startswith(name_prefix)).values(revoked_at=at))
