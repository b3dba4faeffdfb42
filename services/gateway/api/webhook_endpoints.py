"""`/v1/webhook-endpoints`: register, list, delete, rotate the secret, list and redeliver deliveries."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy import select

from services.gateway.api.deps import Cursor, GatewayDep, Limit, Reader, Writer
from services.gateway.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.gateway.netguard import check_destination
from services.gateway.schemas import (WebhookDeliveryList, WebhookDeliveryOut, WebhookEndpointCreate,
                                      WebhookEndpointList, WebhookEndpointOut)
from services.gateway.webhooks import new_secret
from shared.errors import NotFound
from shared.ids import new_id, utcnow

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])


def endpoint_view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    return {"id": endpoint.id, "url": endpoint.url, "description": endpoint.description,
            "event_types": endpoint.event_types, "created_at": endpoint.created_at,
            "disabled": endpoint.disabled_at is not None, "disabled_reason": endpoint.disabled_reason,
            "secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


def delivery_view(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict:
    return {"id": delivery.id, "message_id": delivery.message_id, "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at,
            "created_at": delivery.created_at, "delivered_at": delivery.delivered_at,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "attempt_log": [{"attempted_at": a.attempted_at, "status_code": a.status_code, "error": a.error,
                             "duration_ms": a.duration_ms} for a in attempts]}


async def _endpoint(session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id,
        WebhookEndpoint.deleted_at.is_(None)))
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} does not exist")
    return endpoint


@router.post("", status_code=201, response_model=WebhookEndpointOut,
             summary="Register an endpoint; the `whsec_…` secret is shown only here")
async def create_endpoint(body: WebhookEndpointCreate, gw: GatewayDep, caller: Writer) -> dict:
    await check_destination(gw.http.policy, body.url)
    secret = new_secret()
    endpoint = WebhookEndpoint(id=new_id("whep"), tenant_id=caller.tenant_id, url=body.url,
                               description=body.description, event_types=sorted(set(body.event_types)), secret=secret)
    async with gw.sessionmaker() as session, session.begin():
        session.add(endpoint)
    return endpoint_view(endpoint, secret)


@router.get("", response_model=WebhookEndpointList, summary="The tenant's endpoints")
async def list_endpoints(gw: GatewayDep, caller: Reader, cursor: Cursor = None, limit: Limit = 50) -> dict:
    query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == caller.tenant_id,
                                          WebhookEndpoint.deleted_at.is_(None))
    if cursor:
        query = query.where(WebhookEndpoint.id < cursor)
    async with gw.reader() as session:
        rows = (await session.scalars(query.order_by(WebhookEndpoint.id.desc()).limit(limit + 1))).all()
    return {"data": [endpoint_view(e) for e in rows[:limit]],
            "next_cursor": rows[limit - 1].id if len(rows) > limit else None}


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut, summary="One endpoint")
async def get_endpoint(endpoint_id: str, gw: GatewayDep, caller: Reader) -> dict:
    async with gw.reader() as session:
        return endpoint_view(await _endpoint(session, caller.tenant_id, endpoint_id))


@router.delete("/{endpoint_id}", status_code=204, summary="Delete an endpoint (pending deliveries stop)")
async def delete_endpoint(endpoint_id: str, gw: GatewayDep, caller: Writer) -> Response:
    async with gw.sessionmaker() as session, session.begin():
        endpoint = await _endpoint(session, caller.tenant_id, endpoint_id)
        endpoint.deleted_at = utcnow()
    return Response(status_code=204)


@router.post("/{endpoint_id}:rotate-secret", response_model=WebhookEndpointOut,
             summary="A new secret; the old one keeps signing (beside the new) for 24 h")
async def rotate_secret(endpoint_id: str, gw: GatewayDep, caller: Writer) -> dict:
    secret = new_secret()
    async with gw.sessionmaker() as session, session.begin():
        endpoint = await _endpoint(session, caller.tenant_id, endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = utcnow() + timedelta(seconds=gw.settings.webhook_secret_overlap_s)
        endpoint.secret = secret
    return endpoint_view(endpoint, secret)


@router.get("/{endpoint_id}/deliveries", response_model=WebhookDeliveryList,
            summary="Deliveries to this endpoint with every attempt, newest first")
async def list_deliveries(endpoint_id: str, gw: GatewayDep, caller: Reader, cursor: Cursor = None,
                          limit: Limit = 50) -> dict:
    async with gw.reader() as session:
        await _endpoint(session, caller.tenant_id, endpoint_id)
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id,
                                              WebhookDelivery.tenant_id == caller.tenant_id)
        if cursor:
            query = query.where(WebhookDelivery.id < cursor)
        rows = (await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1))).all()
        page = rows[:limit]
        attempts = (await session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id.in_([d.id for d in page])).order_by(WebhookAttempt.id))).all()
    by_delivery: dict[str, list[WebhookAttempt]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return {"data": [delivery_view(d, by_delivery.get(d.id, [])) for d in page],
            "next_cursor": page[-1].id if len(rows) > limit else None}


@router.post("/{endpoint_id}/deliveries/{delivery_id}:redeliver", status_code=202, response_model=WebhookDeliveryOut,
             summary="Send a delivery's message again (same webhook-id, a new delivery record)")
async def redeliver(endpoint_id: str, delivery_id: str, gw: GatewayDep, caller: Writer) -> dict:
    async with gw.sessionmaker() as session, session.begin():
        endpoint = await _endpoint(session, caller.tenant_id, endpoint_id)
        original = await session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id))
        if original is None:
            raise NotFound(f"delivery {delivery_id!r} does not exist")
        now = utcnow()
        again = WebhookDelivery(id=new_id("dlv"), message_id=original.message_id, tenant_id=caller.tenant_id,
                                endpoint_id=endpoint.id, event_type=original.event_type, payload=original.payload,
                                status="pending", attempts=0, next_attempt_at=now, created_at=now)
        session.add(again)
    gw.deliverer.wake.set()
    return delivery_view(again, [])
