"""Dependencies shared by the routers: the caller (API key → tenant, scope, rate limit) and the parts of the
running gateway that a domain function takes explicitly (settings, object store, database sessions, the key
cache, the address policy, the webhook deliverer, the outbox relay, the active-job counts, the stage-step
runner).

They read `request.app.state.gateway` (set by `create_app`) without importing `services.gateway.app`, so the
app imports the routers and nothing here imports the app back."""
from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.gateway.auth import KeyVerifier, Principal, token_from_request
from services.gateway.catalog import StageCatalog
from services.gateway.domain import StepRunner
from services.gateway.domain.jobs import ActiveJobCounts, Submission
from services.gateway.netguard import AddressPolicy, SafeHttp
from services.gateway.outbox import OutboxRelay
from services.gateway.problems import Unauthorized
from services.gateway.steps import run_step
from services.gateway.webhooks import WebhookDeliverer
from shared.settings import Settings
from shared.store import ObjectStore


def get_gateway(request: Request) -> Any:
    """The running gateway (owner of the loops); only /readyz takes it whole, for its readiness."""
    return request.app.state.gateway


def get_settings(request: Request) -> Settings:
    return request.app.state.gateway.settings


def get_store(request: Request) -> ObjectStore:
    return request.app.state.gateway.store


def get_sessions(request: Request) -> async_sessionmaker:
    """Sessions for writes: `async with sessions() as s, s.begin():` is one transaction."""
    return request.app.state.gateway.sessionmaker


def get_reader(request: Request) -> async_sessionmaker:
    """Sessions for reads in autocommit (one round trip per lookup)."""
    return request.app.state.gateway.reader


def get_keys(request: Request) -> KeyVerifier:
    return request.app.state.gateway.keys


def get_http(request: Request) -> SafeHttp:
    return request.app.state.gateway.http


def get_address_policy(request: Request) -> AddressPolicy:
    return request.app.state.gateway.http.policy


def get_deliverer(request: Request) -> WebhookDeliverer:
    return request.app.state.gateway.deliverer


def get_catalog(request: Request) -> StageCatalog:
    return request.app.state.gateway.catalog


def get_active_jobs(request: Request) -> ActiveJobCounts:
    return request.app.state.gateway.active_jobs


def get_relay(request: Request) -> OutboxRelay:
    return request.app.state.gateway.relay


def get_changes(request: Request) -> Any:
    """The gateway's JobChanges: wakes SSE streams and step waiters when a job changed in this process."""
    return request.app.state.gateway.changes


def get_submission(request: Request) -> Submission:
    gw = request.app.state.gateway
    return Submission(reader=gw.reader, sessions=gw.sessionmaker, store=gw.store, settings=gw.settings,
                      catalog=gw.catalog, http=gw.http, active_jobs=gw.active_jobs, relay=gw.relay)


def get_step_runner(request: Request) -> StepRunner:
    """`run_step` on this gateway: one stage step for a tenant, waited for."""
    return partial(run_step, request.app.state.gateway)


def require(scope: str):
    async def principal(request: Request) -> Principal:
        gw = request.app.state.gateway
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


GatewayDep = Annotated[Any, Depends(get_gateway)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
Sessions = Annotated[async_sessionmaker, Depends(get_sessions)]
ReadSessions = Annotated[async_sessionmaker, Depends(get_reader)]
Keys = Annotated[KeyVerifier, Depends(get_keys)]
Policy = Annotated[AddressPolicy, Depends(get_address_policy)]
Deliverer = Annotated[WebhookDeliverer, Depends(get_deliverer)]
Catalog = Annotated[StageCatalog, Depends(get_catalog)]
Steps = Annotated[StepRunner, Depends(get_step_runner)]
ActiveJobs = Annotated[ActiveJobCounts, Depends(get_active_jobs)]
Relay = Annotated[OutboxRelay, Depends(get_relay)]
Changes = Annotated[Any, Depends(get_changes)]
SubmissionDep = Annotated[Submission, Depends(get_submission)]
Http = Annotated[SafeHttp, Depends(get_http)]
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Cursor = Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=100)]
