"""Creating tenants and their first key (CLI, `facecast serve`, tests)."""
from __future__ import annotations

from sqlalchemy import select

from services.gateway.auth import create_key, parse_token
from services.gateway.db.models import ApiKey, Tenant
from shared.ids import new_id


async def create_tenant(sessionmaker, name: str, scopes: list[str] | None = None, token: str | None = None,
                        rate_limit_per_s: float | None = None, max_active_jobs: int | None = None,
                        retention_days: int | None = None) -> tuple[Tenant, str]:
    """A new tenant and an API key for it (admin scope unless told otherwise); the key is returned once."""
    async with sessionmaker() as session, session.begin():
        tenant = Tenant(id=new_id("ten"), name=name, rate_limit_per_s=rate_limit_per_s,
                        max_active_jobs=max_active_jobs, retention_days=retention_days)
        session.add(tenant)
        await session.flush()
        _, token = await create_key(session, tenant.id, scopes or ["admin"], name="initial", token=token)
    return tenant, token


async def ensure_tenant_with_key(sessionmaker, name: str, token: str) -> Tenant:
    """The tenant that owns `token`, creating both when the key is unknown (`FACECAST_BOOTSTRAP_API_KEY`)."""
    key_id, _ = parse_token(token)
    async with sessionmaker() as session:
        key = await session.get(ApiKey, key_id)
        if key is not None:
            return await session.scalar(select(Tenant).where(Tenant.id == key.tenant_id))
    tenant, _ = await create_tenant(sessionmaker, name, token=token)
    return tenant
