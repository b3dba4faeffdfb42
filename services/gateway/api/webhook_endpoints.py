"""`/v1/webhook-endpoints`: register, list, delete, rotate the secret, list and redeliver deliveries."""
from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.api.deps import (Cursor, Deliverer, Limit, Policy, ReadSessions, Reader, Sessions, SettingsDep,
                                       Writer)
from services.gateway.domain import webhook_endpoints as endpoints
from services.gateway.schemas import (WebhookDeliveryList, WebhookDeliveryOut, WebhookEndpointCreate,
                                      WebhookEndpointList, WebhookEndpointOut)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookEndpointOut,
             summary="Register an endpoint; the `whsec_…` secret is shown only here")
async def create_endpoint(body: WebhookEndpointCreate, sessions: Sessions, policy: Policy, caller: Writer) -> dict:
    endpoint, secret = await endpoints.create_endpoint(sessions, policy, caller.tenant_id, body.url,
                                                       body.description, body.event_types)
    return endpoints.endpoint_view(endpoint, secret)


@router.get("", response_model=WebhookEndpointList, summary="The tenant's endpoints")
async def list_endpoints(reader: ReadSessions, caller: Reader, cursor: Cursor = None, limit: Limit = 50) -> dict:
    async with reader() as session:
        page, next_cursor = await endpoints.list_endpoints(session, caller.tenant_id, cursor, limit)
    return {"data": [endpoints.endpoint_view(e) for e in page], "next_cursor": next_cursor}


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut, summary="One endpoint")
async def get_endpoint(endpoint_id: str, reader: ReadSessions, caller: Reader) -> dict:
    async with reader() as session:
        return endpoints.endpoint_view(await endpoints.get_endpoint(session, caller.tenant_id, endpoint_id))


@router.delete("/{endpoint_id}", status_code=204, summary="Delete an endpoint (pending deliveries stop)")
async def delete_endpoint(endpoint_id: str, sessions: Sessions, caller: Writer) -> Response:
    await endpoints.delete_endpoint(sessions, caller.tenant_id, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}:rotate-secret", response_model=WebhookEndpointOut,
             summary="A new secret; the old one keeps signing (beside the new) for 24 h")
async def rotate_secret(endpoint_id: str, sessions: Sessions, settings: SettingsDep, caller: Writer) -> dict:
    endpoint, secret = await endpoints.rotate_secret(sessions, settings, caller.tenant_id, endpoint_id)
    return endpoints.endpoint_view(endpoint, secret)


@router.get("/{endpoint_id}/deliveries", response_model=WebhookDeliveryList,
            summary="Deliveries to this endpoint with every attempt, newest first")
async def list_deliveries(endpoint_id: str, reader: ReadSessions, caller: Reader, cursor: Cursor = None,
                          limit: Limit = 50) -> dict:
    async with reader() as session:
        page, next_cursor = await endpoints.list_deliveries(session, caller.tenant_id, endpoint_id, cursor, limit)
    return {"data": [endpoints.delivery_view(d, attempts) for d, attempts in page], "next_cursor": next_cursor}


@router.post("/{endpoint_id}/deliveries/{delivery_id}:redeliver", status_code=202, response_model=WebhookDeliveryOut,
             summary="Send a delivery's message again (same webhook-id, a new delivery record)")
async def redeliver(endpoint_id: str, delivery_id: str, sessions: Sessions, deliverer: Deliverer,
                    caller: Writer) -> dict:
    delivery = await endpoints.redeliver(sessions, deliverer, caller.tenant_id, endpoint_id, delivery_id)
    return endpoints.delivery_view(delivery, [])
