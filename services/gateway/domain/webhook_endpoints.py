"""Webhook endpoints: register (the destination checked by the SSRF guard), list, delete, rotate the secret
(the old one keeps signing beside the new for `webhook_secret_overlap_s`), list deliveries with their
attempts, redeliver a message. Signing and the delivery loop are `services.gateway.webhooks`."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.gateway.db.repositories import webhook_endpoints as repository
from services.gateway.netguard import AddressPolicy, check_destination
from services.gateway.webhooks import WebhookDeliverer, new_secret
from shared.errors import NotFound
from shared.ids import new_id, utcnow
from shared.settings import Settings


def endpoint_view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    """`WebhookEndpointOut`: `secret` only when it was just made (creation, rotation)."""
    return {"id": endpoint.id, "url": endpoint.url, "description": endpoint.description,
            "event_types": endpoint.event_types, "created_at": endpoint.created_at,
            "disabled": endpoint.disabled_at is not None, "disabled_reason": endpoint.disabled_reason,
            "secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


def delivery_view(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict:
    """`WebhookDeliveryOut` with its attempts, oldest first."""
    return {"id": delivery.id, "message_id": delivery.message_id, "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at,
            "created_at": delivery.created_at, "delivered_at": delivery.delivered_at,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "attempt_log": [{"attempted_at": a.attempted_at, "status_code": a.status_code, "error": a.error,
                             "duration_ms": a.duration_ms} for a in attempts]}


async def get_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The tenant's live endpoint; NotFound otherwise (another tenant's, or deleted)."""
    endpoint = await repository.get(session, tenant_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} does not exist")
    return endpoint


async def create_endpoint(sessions: async_sessionmaker, policy: AddressPolicy, tenant_id: str, url: str,
                          description: str, event_types: list[str]) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its `whsec_…` secret (shown once). Raises the SSRF guard's refusal for a URL
    whose destination it does not allow."""
    await check_destination(policy, url)
    secret = new_secret()
    endpoint = WebhookEndpoint(id=new_id("whep"), tenant_id=tenant_id, url=url, description=description,
                               event_types=sorted(set(event_types)), secret=secret)
    async with sessions() as session, session.begin():
        repository.add(session, endpoint)
    return endpoint, secret


async def list_endpoints(session: AsyncSession, tenant_id: str, cursor: str | None,
                         limit: int) -> tuple[list[WebhookEndpoint], str | None]:
    """One page of the tenant's endpoints, newest first, and the next page's cursor (None at the end)."""
    rows = await repository.page(session, tenant_id, cursor, limit + 1)
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


async def delete_endpoint(sessions: async_sessionmaker, tenant_id: str, endpoint_id: str) -> None:
    """Mark the endpoint deleted: its pending deliveries stop."""
    async with sessions() as session, session.begin():
        endpoint = await get_endpoint(session, tenant_id, endpoint_id)
        endpoint.deleted_at = utcnow()


async def rotate_secret(sessions: async_sessionmaker, settings: Settings, tenant_id: str,
                        endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new secret; the previous one keeps signing beside it for `settings.webhook_secret_overlap_s`."""
    secret = new_secret()
    async with sessions() as session, session.begin():
        endpoint = await get_endpoint(session, tenant_id, endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = utcnow() + timedelta(seconds=settings.webhook_secret_overlap_s)
        endpoint.secret = secret
    return endpoint, secret


async def list_deliveries(session: AsyncSession, tenant_id: str, endpoint_id: str, cursor: str | None, limit: int
                          ) -> tuple[list[tuple[WebhookDelivery, list[WebhookAttempt]]], str | None]:
    """One page of the endpoint's deliveries, newest first, each with its attempts; and the next cursor."""
    await get_endpoint(session, tenant_id, endpoint_id)
    rows = await repository.deliveries_page(session, tenant_id, endpoint_id, cursor, limit + 1)
    page = rows[:limit]
    by_delivery: dict[str, list[WebhookAttempt]] = {}
    for attempt in await repository.attempts(session, [d.id for d in page]):
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return [(d, by_delivery.get(d.id, [])) for d in page], page[-1].id if len(rows) > limit else None


async def redeliver(sessions: async_sessionmaker, deliverer: WebhookDeliverer, tenant_id: str, endpoint_id: str,
                    delivery_id: str) -> WebhookDelivery:
    """A new delivery record of the same message (same webhook-id), due now; the delivery loop is woken."""
    async with sessions() as session, session.begin():
        endpoint = await get_endpoint(session, tenant_id, endpoint_id)
        original = await repository.delivery(session, endpoint.id, delivery_id)
        if original is None:
            raise NotFound(f"delivery {delivery_id!r} does not exist")
        now = utcnow()
        again = WebhookDelivery(id=new_id("dlv"), message_id=original.message_id, tenant_id=tenant_id,
                                endpoint_id=endpoint.id, event_type=original.event_type, payload=original.payload,
                                status="pending", attempts=0, next_attempt_at=now, created_at=now)
        repository.add(session, again)
    deliverer.wake.set()
    return again
