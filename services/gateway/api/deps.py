"""Dependencies shared by the routers: the gateway, the caller (API key → tenant, scope, rate limit)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from services.gateway.app import Gateway
from services.gateway.auth import Principal, token_from_request
from services.gateway.problems import Unauthorized


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def require(scope: str):
    async def principal(request: Request) -> Principal:
        gw: Gateway = request.app.state.gateway
        token = token_from_request(request)
        address = request.client.host if request.client else "unknown"
        gw.auth_failures.check(address)
        try:
            caller = await gw.keys.verify(token)
        except Unauthorized:  # a wrong, revoked or malformed key: counted against the address
            gw.auth_failures.failed(address)
            raise
        gw.buckets.take(caller.tenant_id, caller.rate_limit_per_s)
        caller.require(scope)
        return caller

    return principal


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Cursor = Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=100)]
