"""Standard Webhooks: signing, the webhook outbox, and the delivery loop.

A message is signed as `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`; the secret is
`whsec_<base64 key>`. After a rotation the previous secret also signs for `webhook_secret_overlap_s`
(the header then carries both signatures, space-separated). Deliveries are rows committed together
with the state change that caused them; the loop claims due rows with a lease (so several gateways
share the work), posts through the SSRF guard, and reschedules failures on the retry schedule.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.gateway.netguard import SafeHttp
from shared.errors import FaceCastError
from shared.ids import new_id, utcnow
from shared.telemetry import WEBHOOK_DELIVERIES, log_fields

logger = logging.getLogger("facecast.gateway.webhooks")
SECRET_PREFIX = "whsec_"
MAX_PAYLOAD_BYTES = 64_000  # a 64-candidate casting with S3 URLs fits; job metadata is capped at 4 kB
ESSENTIAL = ("id", "object", "kind", "batch_id", "status", "result", "error", "job_id")  # never cut
LEASE_S = 60


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets_now = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        secrets_now.append(endpoint.previous_secret)
    return secrets_now


def signed_headers(endpoint: WebhookEndpoint, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    signatures = " ".join(sign(s, message_id, timestamp, body) for s in signing_secrets(endpoint, now))
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures,
            "content-type": "application/json", "user-agent": "FaceCast-Webhooks/1"}


def encode_payload(event_type: str, data: dict, now: datetime) -> str:
    """The JSON body; when `data` would push it past `MAX_PAYLOAD_BYTES`, the largest lists are cut, then
    the other non-essential fields dropped, and the payload marked `truncated`. The job id, status, result
    (with its URL) and error are always kept: they are what the receiver acts on."""
    body = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    text = json.dumps(body, separators=(",", ":"), default=str)
    while len(text.encode()) > MAX_PAYLOAD_BYTES:
        lists = [k for k, v in data.items() if isinstance(v, list) and v and k not in ESSENTIAL]
        if not lists:
            data = {k: data[k] for k in data if k in ESSENTIAL} | {"truncated": True}
            body["data"] = data
            return json.dumps(body, separators=(",", ":"), default=str)
        longest = max(lists, key=lambda k: len(json.dumps(data[k], default=str)))
        data = {**data, longest: data[longest][: len(data[longest]) // 2], "truncated": True}
        body["data"] = data
        text = json.dumps(body, separators=(",", ":"), default=str)
    return text


async def enqueue(session: AsyncSession, tenant_id: str, event_type: str, data: dict) -> int:
    """Queue `event_type` for every enabled endpoint of the tenant that subscribed; same transaction as the cause."""
    endpoints = (await session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.deleted_at.is_(None),
        WebhookEndpoint.disabled_at.is_(None)))).all()
    targets = [e for e in endpoints if event_type in e.event_types]
    if not targets:
        return 0
    now = utcnow()
    payload = encode_payload(event_type, data, now)
    message_id = new_id("msg")
    for endpoint in targets:
        session.add(WebhookDelivery(id=new_id("dlv"), message_id=message_id, tenant_id=tenant_id,
                                    endpoint_id=endpoint.id, event_type=event_type, payload=payload,
                                    next_attempt_at=now, created_at=now))
    return len(targets)


def retry_after_s(headers: dict[str, str], now: datetime) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


class WebhookDeliverer:
    """Claims due deliveries, posts them, records every attempt, reschedules or finishes them."""

    def __init__(self, sessionmaker, reader, http: SafeHttp, settings) -> None:
        self.sessionmaker = sessionmaker
        self.reader = reader  # autocommit: the claim is one statement
        self.http = http
        self.settings = settings
        self.schedule = list(settings.webhook_retry_schedule_s)
        self.wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, settings.webhook_concurrency))

    async def run(self, stopping: asyncio.Event) -> None:
        tasks: set[asyncio.Task] = set()
        while not stopping.is_set():
            try:
                claimed = await self.claim_due(limit=self.settings.webhook_concurrency)
            except Exception:
                logger.exception("claiming webhook deliveries failed")
                claimed = []
            for delivery_id in claimed:
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver_released(delivery_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if not claimed:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=self._idle_wait())
                except TimeoutError:
                    pass
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _idle_wait(self) -> float:
        return min(1.0, max(0.05, min((s for s in self.schedule if s > 0), default=1.0)))

    async def _deliver_released(self, delivery_id: str) -> None:
        try:
            await self.deliver(delivery_id)
        except Exception:
            logger.exception("webhook delivery crashed", extra=log_fields(delivery_id=delivery_id))
        finally:
            self._slots.release()

    async def claim_due(self, limit: int) -> list[str]:
        """Lease due deliveries with one `UPDATE … RETURNING` (`SKIP LOCKED` keeps gateways apart)."""
        now = utcnow()
        due = (select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now))
            .order_by(WebhookDelivery.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
        lease = now + timedelta(seconds=LEASE_S + self.settings.webhook_timeout_s)
        claim = (update(WebhookDelivery).where(WebhookDelivery.id.in_(due.scalar_subquery()))
                 .values(lease_until=lease).returning(WebhookDelivery.id))
        async with self.reader() as session:
            return list((await session.scalars(claim)).all())

    async def deliver(self, delivery_id: str) -> None:
        async with self.reader() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
        if delivery is None or delivery.status != "pending":
            return
        now = utcnow()
        if endpoint is None or endpoint.deleted_at is not None or endpoint.disabled_at is not None:
            await self._finish(delivery_id, "failed", None, "the endpoint was disabled or deleted", now, 0.0, None)
            return
        body = delivery.payload.encode()
        headers = signed_headers(endpoint, delivery.message_id, body, now)
        started = time.perf_counter()
        status_code, error, response_headers = None, None, {}
        try:
            status_code, response_headers, _ = await self.http.post(endpoint.url, body, headers,
                                                                   timeout_s=self.settings.webhook_timeout_s)
        except FaceCastError as exc:
            error = exc.message
        duration_ms = (time.perf_counter() - started) * 1000
        if status_code is not None and 200 <= status_code < 300:
            await self._finish(delivery_id, "succeeded", status_code, None, now, duration_ms, None)
            return
        if status_code == 410:
            await self._finish(delivery_id, "failed", status_code, "the endpoint answered 410 Gone; it is disabled",
                               now, duration_ms, None, disable_endpoint=endpoint.id)
            return
        if error is None:
            error = f"the endpoint answered {status_code}"
        attempts = delivery.attempts + 1
        if attempts >= len(self.schedule):
            await self._finish(delivery_id, "failed", status_code, f"{error}; gave up after {attempts} attempts",
                               now, duration_ms, None)
            return
        delay = self.schedule[attempts]
        ended = utcnow()  # the delay counts from the attempt's end: a 15 s timeout must not eat a 5 s wait
        if (hint := retry_after_s({k.lower(): v for k, v in response_headers.items()}, ended)) is not None:
            delay = max(delay, min(hint, 86_400.0))
        await self._finish(delivery_id, "pending", status_code, error, now, duration_ms,
                           ended + timedelta(seconds=delay))

    async def _finish(self, delivery_id: str, status: str, status_code: int | None, error: str | None,
                      attempted_at: datetime, duration_ms: float, next_attempt_at: datetime | None,
                      disable_endpoint: str | None = None) -> None:
        async with self.sessionmaker() as session, session.begin():
            delivery = await session.get(WebhookDelivery, delivery_id)
            delivery.attempts += 1
            delivery.status = status
            delivery.last_status_code = status_code
            delivery.last_error = error[:1000] if error else None
            delivery.next_attempt_at = next_attempt_at
            delivery.lease_until = None
            if status == "succeeded":
                delivery.delivered_at = utcnow()
            session.add(WebhookAttempt(delivery_id=delivery_id, attempted_at=attempted_at, status_code=status_code,
                                       error=error[:1000] if error else None, duration_ms=duration_ms))
            if disable_endpoint is not None:
                endpoint = await session.get(WebhookEndpoint, disable_endpoint)
                endpoint.disabled_at = utcnow()
                endpoint.disabled_reason = "the endpoint answered 410 Gone"
        WEBHOOK_DELIVERIES.labels({"succeeded": "success", "pending": "retry"}.get(status, "failed")).inc()
        log = logger.info if status != "failed" else logger.warning
        log(f"webhook delivery {status}", extra=log_fields(delivery_id=delivery_id, status_code=status_code,
                                                           error=error))
        if status == "pending" and next_attempt_at is not None:
            self.wake.set()
