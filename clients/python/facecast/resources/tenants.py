"""`/v1/tenant` and `/v1/api-keys`: the caller's tenant (retention, limits) and its API keys (admin scope)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ._base import AsyncResource, SyncResource, route, without_none

GET = route("GET", "/v1/tenant", reads=("id", "retention_days"))
UPDATE = route("PATCH", "/v1/tenant", body=("retention_days",), reads=("id", "retention_days"))
KEYS = route("GET", "/v1/api-keys", reads=("data.id", "data.scopes"))
CREATE_KEY = route("POST", "/v1/api-keys", body=("name", "scopes"), reads=("id", "key"))
REVOKE_KEY = route("DELETE", "/v1/api-keys/{key_id}")


class Tenants(SyncResource):
    def tenant(self) -> Dict[str, Any]:
        """The caller's tenant: `retention_days`, `rate_limit_per_s`, `max_active_jobs`."""
        return self._call(GET)

    def update_tenant(self, *, retention_days: Optional[int] = None) -> Dict[str, Any]:
        """Change how many days (1–365) job images are kept (admin scope)."""
        return self._call(UPDATE, json=without_none(retention_days=retention_days))

    def api_keys(self) -> List[Dict[str, Any]]:
        """The tenant's API keys, never their secrets (admin scope)."""
        return self._call(KEYS)["data"]

    def create_api_key(self, name: str = "", scopes: Sequence[str] = ("read", "write")) -> Dict[str, Any]:
        """A new key with `scopes` (read, write, admin); its `key` is shown only here (admin scope)."""
        return self._call(CREATE_KEY, json={"name": name, "scopes": list(scopes)})

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key at once (admin scope)."""
        self._call(REVOKE_KEY, path={"key_id": key_id})


class AsyncTenants(AsyncResource):
    async def tenant(self) -> Dict[str, Any]:
        """The caller's tenant: `retention_days`, `rate_limit_per_s`, `max_active_jobs`."""
        return await self._call(GET)

    async def update_tenant(self, *, retention_days: Optional[int] = None) -> Dict[str, Any]:
        """Change how many days (1–365) job images are kept (admin scope)."""
        return await self._call(UPDATE, json=without_none(retention_days=retention_days))

    async def api_keys(self) -> List[Dict[str, Any]]:
        """The tenant's API keys, never their secrets (admin scope)."""
        return (await self._call(KEYS))["data"]

    async def create_api_key(self, name: str = "", scopes: Sequence[str] = ("read", "write")) -> Dict[str, Any]:
        """A new key with `scopes` (read, write, admin); its `key` is shown only here (admin scope)."""
        return await self._call(CREATE_KEY, json={"name": name, "scopes": list(scopes)})

    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key at once (admin scope)."""
        await self._call(REVOKE_KEY, path={"key_id": key_id})
