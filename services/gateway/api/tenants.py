"""`/v1/tenant` (the caller's tenant) and `/v1/api-keys` (its keys: create, list, revoke)."""
from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from services.gateway.api.deps import Admin, GatewayDep, Reader
from services.gateway.auth import create_key
from services.gateway.db.models import ApiKey, Tenant
from services.gateway.schemas import ApiKeyCreate, ApiKeyList, ApiKeyOut, TenantOut, TenantUpdate
from shared.errors import NotFound
from shared.ids import utcnow

router = APIRouter(prefix="/v1", tags=["tenants"])


def tenant_view(gw, tenant: Tenant) -> dict:
    return {"id": tenant.id, "name": tenant.name, "created_at": tenant.created_at,
            "retention_days": tenant.retention_days or gw.settings.retention_days,
            "rate_limit_per_s": tenant.rate_limit_per_s or gw.settings.rate_limit_per_s,
            "max_active_jobs": tenant.max_active_jobs or gw.settings.max_active_jobs}


def key_view(key: ApiKey, token: str | None = None) -> dict:
    return {"id": key.id, "name": key.name, "scopes": key.scopes, "created_at": key.created_at,
            "revoked_at": key.revoked_at, "key": token}


@router.get("/tenant", response_model=TenantOut, summary="The caller's tenant and its limits")
async def get_tenant(gw: GatewayDep, caller: Reader) -> dict:
    async with gw.reader() as session:
        return tenant_view(gw, await session.get(Tenant, caller.tenant_id))


@router.patch("/tenant", response_model=TenantOut, summary="Change the tenant's retention period")
async def update_tenant(body: TenantUpdate, gw: GatewayDep, caller: Admin) -> dict:
    async with gw.sessionmaker() as session, session.begin():
        tenant = await session.get(Tenant, caller.tenant_id)
        if body.retention_days is not None:
            tenant.retention_days = body.retention_days
    gw.keys.forget_tenant(caller.tenant_id)
    return tenant_view(gw, tenant)


@router.get("/api-keys", response_model=ApiKeyList, summary="The tenant's API keys (never the secrets)")
async def list_keys(gw: GatewayDep, caller: Admin) -> dict:
    async with gw.reader() as session:
        keys = (await session.scalars(select(ApiKey).where(ApiKey.tenant_id == caller.tenant_id)
                                      .order_by(ApiKey.id))).all()
    return {"data": [key_view(k) for k in keys]}


@router.post("/api-keys", status_code=201, response_model=ApiKeyOut, summary="A new key; `key` is shown only here")
async def create_api_key(body: ApiKeyCreate, gw: GatewayDep, caller: Admin) -> dict:
    async with gw.sessionmaker() as session, session.begin():
        key, token = await create_key(session, caller.tenant_id, list(body.scopes), name=body.name)
    return key_view(key, token)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke a key (at once)")
async def revoke_api_key(key_id: str, gw: GatewayDep, caller: Admin) -> Response:
    async with gw.sessionmaker() as session, session.begin():
        key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == caller.tenant_id))
        if key is None:
            raise NotFound(f"API key {key_id!r} does not exist")
        key.revoked_at = key.revoked_at or utcnow()
    gw.keys.forget(key_id)
    return Response(status_code=204)
