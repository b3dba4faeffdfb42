"""`/v1/tenant` (the caller's tenant) and `/v1/api-keys` (its keys: create, list, revoke)."""
from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.api.deps import Admin, Keys, ReadSessions, Reader, Sessions, SettingsDep
from services.gateway.domain import tenants
from services.gateway.schemas import ApiKeyCreate, ApiKeyList, ApiKeyOut, TenantOut, TenantUpdate

router = APIRouter(prefix="/v1", tags=["tenants"])


@router.get("/tenant", response_model=TenantOut, summary="The caller's tenant and its limits")
async def get_tenant(reader: ReadSessions, settings: SettingsDep, caller: Reader) -> dict:
    async with reader() as session:
        return tenants.tenant_view(settings, await tenants.get_tenant(session, caller.tenant_id))


@router.patch("/tenant", response_model=TenantOut, summary="Change the tenant's retention period")
async def update_tenant(body: TenantUpdate, sessions: Sessions, keys: Keys, settings: SettingsDep,
                        caller: Admin) -> dict:
    tenant = await tenants.update_tenant(sessions, keys, caller.tenant_id, body.retention_days)
    return tenants.tenant_view(settings, tenant)


@router.get("/api-keys", response_model=ApiKeyList, summary="The tenant's API keys (never the secrets)")
async def list_keys(reader: ReadSessions, caller: Admin) -> dict:
    async with reader() as session:
        keys = await tenants.list_keys(session, caller.tenant_id)
    return {"data": [tenants.key_view(k) for k in keys]}


@router.post("/api-keys", status_code=201, response_model=ApiKeyOut, summary="A new key; `key` is shown only here")
async def create_api_key(body: ApiKeyCreate, sessions: Sessions, caller: Admin) -> dict:
    key, token = await tenants.add_key(sessions, caller.tenant_id, list(body.scopes), body.name)
    return tenants.key_view(key, token)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke a key (at once)")
async def revoke_api_key(key_id: str, sessions: Sessions, keys: Keys, caller: Admin) -> Response:
    await tenants.revoke_key(sessions, keys, caller.tenant_id, key_id)
    return Response(status_code=204)
