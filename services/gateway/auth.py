"""API keys: shown once, stored as sha256, revocable, several per tenant, scopes read < write < admin.

A key is `fck_<key id>_<secret>`; the id finds the row, the secret's hash must match. Verified keys
are cached for a few seconds so a busy plugin does not cost a database read per request; a revocation
made through this gateway clears the cache at once.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import ApiKey, Tenant
from services.gateway.problems import Forbidden, Unauthorized
from shared.ids import new_id, utcnow

SCOPES = ("read", "write", "admin")
CACHE_TTL_S = 5.0


def implied_scopes(scopes: list[str]) -> set[str]:
    """admin implies write implies read."""
    top = max((SCOPES.index(s) for s in scopes if s in SCOPES), default=-1)
    return set(SCOPES[:top + 1])


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    retention_days: int | None
    rate_limit_per_s: float | None
    max_active_jobs: int | None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope", required=scope)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


hash_secret = _hash  # what an API key row stores of its secret


def new_token(key_id: str) -> tuple[str, str]:
    """(token shown once, sha256 of its secret to store)."""
    secret = secrets.token_hex(32)
    return f"fck_{key_id.removeprefix('key_')}_{secret}", _hash(secret)


async def create_key(session: AsyncSession, tenant_id: str, scopes: list[str], name: str = "",
                     token: str | None = None) -> tuple[ApiKey, str]:
    """A new key for the tenant; `token` adopts a key chosen by the operator (FACECAST_BOOTSTRAP_API_KEY)."""
    if token is None:
        key_id = new_id("key")
        token, digest = new_token(key_id)
    else:
        key_id, secret = parse_token(token)
        digest = _hash(secret)
    row = ApiKey(id=key_id, tenant_id=tenant_id, name=name, secret_sha256=digest, scopes=sorted(set(scopes)))
    session.add(row)
    return row, token


def parse_token(token: str) -> tuple[str, str]:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "fck" or not parts[1] or len(parts[2]) < 16:
        raise Unauthorized("malformed API key (expected fck_<id>_<secret>)")
    return f"key_{parts[1]}", parts[2]


class KeyVerifier:
    def __init__(self, sessionmaker) -> None:
        self._sessionmaker = sessionmaker
        self._cache: dict[str, tuple[Principal, float]] = {}

    def forget(self, key_id: str) -> None:
        for token, (principal, _) in list(self._cache.items()):
            if principal.key_id == key_id:
                self._cache.pop(token, None)

    def forget_tenant(self, tenant_id: str) -> None:
        for token, (principal, _) in list(self._cache.items()):
            if principal.tenant_id == tenant_id:
                self._cache.pop(token, None)

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        key_id, secret = parse_token(token)
        async with self._sessionmaker() as session:
            row = (await session.execute(
                select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id).where(ApiKey.id == key_id)
            )).first()
        if row is None:
            raise Unauthorized("unknown API key")
        key, tenant = row
        if not hmac.compare_digest(key.secret_sha256, _hash(secret)):
            raise Unauthorized("unknown API key")
        if key.revoked_at is not None and key.revoked_at <= utcnow():
            raise Unauthorized("this API key has been revoked")
        principal = Principal(tenant_id=key.tenant_id, key_id=key.id, scopes=frozenset(implied_scopes(key.scopes)),
                              retention_days=tenant.retention_days, rate_limit_per_s=tenant.rate_limit_per_s,
                              max_active_jobs=tenant.max_active_jobs)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (principal, time.monotonic() + CACHE_TTL_S)
        return principal


def token_from_request(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if key := request.headers.get("x-api-key"):
        return key.strip()
    raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
