"""Tenants and their API keys: creating a tenant with its first key (CLI, `facecast serve`, tests), the
tenant's settings as the API shows them, and creating, listing and revoking keys."""
from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.auth import KeyVerifier, create_key, hash_secret, parse_token
from services.gateway.db.models import ApiKey, Tenant
from services.gateway.db.repositories import tenants as repository
from shared.errors import NotFound
from shared.ids import new_id, utcnow
from shared.settings import Settings


async def create_tenant(sessions: async_sessionmaker, name: str, scopes: list[str] | None = None,
                        token: str | None = None, rate_limit_per_s: float | None = None,
                        max_active_jobs: int | None = None, retention_days: int | None = None) -> tuple[Tenant, str]:
    """A new tenant and an API key for it (admin scope unless told otherwise); the key is returned once."""
    async with sessions() as session, session.begin():
        tenant = Tenant(id=new_id("ten"), name=name, rate_limit_per_s=rate_limit_per_s,
                        max_active_jobs=max_active_jobs, retention_days=retention_days)
        repository.add(session, tenant)
        await session.flush()
        _, token = await create_key(session, tenant.id, scopes or ["admin"], name="initial", token=token)
    return tenant, token


async def ensure_tenant_with_key(sessions: async_sessionmaker, name: str, token: str) -> Tenant:
    """The tenant that owns `token`, creating both when the key is unknown (`FACECAST_BOOTSTRAP_API_KEY`)."""
    key_id, _ = parse_token(token)
    async with sessions() as session:
        key = await repository.get_key(session, key_id)
        if key is not None:
            return await repository.get(session, key.tenant_id)
    tenant, _ = await create_tenant(sessions, name, token=token)
    return tenant


async def find_tenant(session: AsyncSession, name: str) -> Tenant | None:
    """The oldest tenant named `name`, if any."""
    return await repository.named(session, name)


async def is_live_admin_key(session: AsyncSession, tenant_id: str, token: str) -> bool:
    """Whether `token` is a live admin key of the tenant (its secret matches, not revoked)."""
    try:
        key_id, secret = parse_token(token)
    except Exception:
        return False
    key = await repository.get_key(session, key_id)
    return (key is not None and key.tenant_id == tenant_id and key.revoked_at is None
            and "admin" in (key.scopes or []) and secrets.compare_digest(key.secret_sha256, hash_secret(secret)))


async def renew_named_key(sessions: async_sessionmaker, tenant: Tenant | None, tenant_name: str,
                          key_name: str) -> tuple[Tenant, str]:
    """A new admin key named `<key_name> <UTC time>` for `tenant` (a new tenant named `tenant_name` when None),
    in one transaction with the revocation of the tenant's earlier live keys named `key_name…`; the token is
    returned once."""
    async with sessions() as session, session.begin():
        if tenant is None:
            tenant = Tenant(id=new_id("ten"), name=tenant_name)
            repository.add(session, tenant)
            await session.flush()
        now = utcnow()
        await repository.revoke_keys_named(session, tenant.id, key_name, now)
        _, token = await create_key(session, tenant.id, ["admin"], name=f"{key_name} {now:%Y-%m-%d %H:%M}")
    return tenant, token


def tenant_view(settings: Settings, tenant: Tenant) -> dict:
    """`TenantOut`: the tenant's own limits, or the gateway's defaults where it has none."""
    return {"id": tenant.id, "name": tenant.name, "created_at": tenant.created_at,
            "retention_days": tenant.retention_days or settings.retention_days,
            "rate_limit_per_s": tenant.rate_limit_per_s or settings.rate_limit_per_s,
            "max_active_jobs": tenant.max_active_jobs or settings.max_active_jobs}


def key_view(key: ApiKey, token: str | None = None) -> dict:
    """`ApiKeyOut`: `key` (the secret token) only when it was just created."""
    return {"id": key.id, "name": key.name, "scopes": key.scopes, "created_at": key.created_at,
            "revoked_at": key.revoked_at, "key": token}


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant:
    return await repository.get(session, tenant_id)


async def update_tenant(sessions: async_sessionmaker, keys: KeyVerifier, tenant_id: str,
                        retention_days: int | None) -> Tenant:
    """Change the tenant's retention period (None: unchanged); its cached keys see the change at once."""
    async with sessions() as session, session.begin():
        tenant = await repository.get(session, tenant_id)
        if retention_days is not None:
            tenant.retention_days = retention_days
    keys.forget_tenant(tenant_id)
    return tenant


async def list_keys(session: AsyncSession, tenant_id: str) -> list[ApiKey]:
    return await repository.keys(session, tenant_id)


async def add_key(sessions: async_sessionmaker, tenant_id: str, scopes: list[str], name: str) -> tuple[ApiKey, str]:
    """A new key and its token (shown once)."""
    async with sessions() as session, session.begin():
        return await create_key(session, tenant_id, scopes, name=name)


async def revoke_key(sessions: async_sessionmaker, keys: KeyVerifier, tenant_id: str, key_id: str) -> None:
    """Revoke the tenant's key now (idempotent: a revoked key keeps its first revocation time).

    Raises NotFound for a key the tenant does not have."""
    async with sessions() as session, session.begin():
        key = await repository.tenant_key(session, tenant_id, key_id)
        if key is None:
            raise NotFound(f"API key {key_id!r} does not exist")
        key.revoked_at = key.revoked_at or utcnow()
    keys.forget(key_id)
