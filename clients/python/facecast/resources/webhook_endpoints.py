"""`/v1/webhook-endpoints`: where the gateway posts `job.succeeded`, `job.failed`, `job.progress` and
`casting.ready` events, signed per Standard Webhooks (check them with `verify_webhook`)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ._base import AsyncResource, SyncResource, route

EVENT_TYPES = ("job.succeeded", "job.failed", "job.progress", "casting.ready")
READS = ("id", "url", "event_types", "secret")
CREATE = route("POST", "/v1/webhook-endpoints", body=("url", "event_types", "description"), reads=READS)
LIST = route("GET", "/v1/webhook-endpoints", query=("cursor", "limit"), reads=("data.id", "data.secret", "next_cursor"))
GET = route("GET", "/v1/webhook-endpoints/{endpoint_id}", reads=READS)
DELETE = route("DELETE", "/v1/webhook-endpoints/{endpoint_id}")
ROTATE = route("POST", "/v1/webhook-endpoints/{endpoint_id}:rotate-secret", reads=READS)
DELIVERIES = route("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries", query=("cursor", "limit"),
                   reads=("data.id", "data.status", "data.attempts", "data.last_status_code", "next_cursor"))
REDELIVER = route("POST", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}:redeliver",
                  reads=("id", "status"))


def endpoint_body(url: str, events: Optional[Sequence[str]], description: Optional[str]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"url": url}
    if events is not None:
        body["event_types"] = list(events)
    if description:
        body["description"] = description
    return body


class WebhookEndpoints(SyncResource):
    def create_webhook_endpoint(self, url: str, events: Optional[Sequence[str]] = None,
                                description: Optional[str] = None) -> Dict[str, Any]:
        """Register an https URL for `events` (of `EVENT_TYPES`; default job.succeeded and job.failed). The
        returned endpoint's `secret` (`whsec_…`) is shown only here: keep it for `verify_webhook`."""
        return self._call(CREATE, json=endpoint_body(url, events, description))

    def webhook_endpoints(self) -> List[Dict[str, Any]]:
        """Every endpoint of the tenant (without secrets)."""
        return list(self._pages(LIST))

    def get_webhook_endpoint(self, endpoint_id: str) -> Dict[str, Any]:
        return self._call(GET, path={"endpoint_id": endpoint_id})

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint; its pending deliveries stop."""
        self._call(DELETE, path={"endpoint_id": endpoint_id})

    def rotate_webhook_secret(self, endpoint_id: str) -> Dict[str, Any]:
        """A new secret (in the returned endpoint's `secret`); the old one stays valid until
        `previous_secret_expires_at`, so verify with both meanwhile."""
        return self._call(ROTATE, path={"endpoint_id": endpoint_id}, json={})

    def webhook_deliveries(self, endpoint_id: str) -> List[Dict[str, Any]]:
        """Deliveries to the endpoint with every attempt, newest first."""
        return list(self._pages(DELIVERIES, path={"endpoint_id": endpoint_id}))

    def redeliver(self, endpoint_id: str, delivery_id: str) -> Dict[str, Any]:
        """Send a delivery's message again (same `webhook-id`, a new delivery record)."""
        return self._call(REDELIVER, path={"endpoint_id": endpoint_id, "delivery_id": delivery_id}, json={})


class AsyncWebhookEndpoints(AsyncResource):
    async def create_webhook_endpoint(self, url: str, events: Optional[Sequence[str]] = None,
                                      description: Optional[str] = None) -> Dict[str, Any]:
        """As `FaceCast.create_webhook_endpoint`: the `secret` is shown only here."""
        return await self._call(CREATE, json=endpoint_body(url, events, description))

    async def webhook_endpoints(self) -> List[Dict[str, Any]]:
        """Every endpoint of the tenant (without secrets)."""
        return [e async for e in self._pages(LIST)]

    async def get_webhook_endpoint(self, endpoint_id: str) -> Dict[str, Any]:
        return await self._call(GET, path={"endpoint_id": endpoint_id})

    async def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint; its pending deliveries stop."""
        await self._call(DELETE, path={"endpoint_id": endpoint_id})

    async def rotate_webhook_secret(self, endpoint_id: str) -> Dict[str, Any]:
        """As `FaceCast.rotate_webhook_secret`."""
        return await self._call(ROTATE, path={"endpoint_id": endpoint_id}, json={})

    async def webhook_deliveries(self, endpoint_id: str) -> List[Dict[str, Any]]:
        """Deliveries to the endpoint with every attempt, newest first."""
        return [d async for d in self._pages(DELIVERIES, path={"endpoint_id": endpoint_id})]

    async def redeliver(self, endpoint_id: str, delivery_id: str) -> Dict[str, Any]:
        """Send a delivery's message again (same `webhook-id`, a new delivery record)."""
        return await self._call(REDELIVER, path={"endpoint_id": endpoint_id, "delivery_id": delivery_id}, json={})
