"""Webhook endpoints, their deliveries and the attempts of each delivery (the delivery loop's own claiming
and scheduling queries stay in `services.gateway.webhooks`)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def add(session: AsyncSession, row: WebhookEndpoint | WebhookDelivery) -> None:
    session.add(row)


async def get(session: AsyncSession, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    """The tenant's endpoint, unless it was deleted."""
    return await session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id,
        WebhookEndpoint.deleted_at.is_(None)))


async def page(session: AsyncSession, tenant_id: str, before: str | None, limit: int) -> list[WebhookEndpoint]:
    """Up to `limit` of the tenant's live endpoints with ids below `before`, newest first."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id,
                                          WebhookEndpoint.deleted_at.is_(None))
    if before:
        query = query.where(WebhookEndpoint.id < before)
    return list((await session.scalars(query.order_by(WebhookEndpoint.id.desc()).limit(limit))).all())


async def delivery(session: AsyncSession, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
    return await session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id))


async def deliveries_page(session: AsyncSession, tenant_id: str, endpoint_id: str, before: str | None,
                          limit: int) -> list[WebhookDelivery]:
    """Up to `limit` deliveries to the endpoint with ids below `before`, newest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id,
                                          WebhookDelivery.tenant_id == tenant_id)
    if before:
        query = query.where(WebhookDelivery.id < before)
    return list((await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))).all())


async def attempts(session: AsyncSession, delivery_ids: list[str]) -> list[WebhookAttempt]:
    """Every attempt of these deliveries, oldest first."""
    return list((await session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id.in_(delivery_ids)).order_by(WebhookAttempt.id))).all())
