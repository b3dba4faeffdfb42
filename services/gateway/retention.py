"""The background sweeper: deletes job images and uploads past their tenant's retention period,
forgets expired idempotency keys and rotated-out webhook secrets."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from services.gateway.db.models import IdempotencyKey, Job, Tenant, Upload, WebhookEndpoint, utcnow
from services.gateway.jobs import ACTIVE, purge_objects

if TYPE_CHECKING:
    from services.gateway.app import Gateway

logger = logging.getLogger("facecast.gateway.retention")


class RetentionSweeper:
    def __init__(self, gw: "Gateway") -> None:
        self.gw = gw

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("retention sweep failed")
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.gw.settings.sweep_interval_s)
            except TimeoutError:
                pass

    async def sweep_once(self, now: datetime | None = None) -> dict[str, int]:
        gw = self.gw
        now = now or utcnow()
        counts = {"jobs": 0, "uploads": 0, "idempotency_keys": 0, "objects": 0}
        async with gw.reader() as session:
            tenants = (await session.execute(select(Tenant.id, Tenant.retention_days))).all()
        for tenant_id, days in tenants:
            cutoff = now - timedelta(days=days or gw.settings.retention_days)
            async with gw.reader() as session:
                jobs = (await session.scalars(select(Job).where(
                    Job.tenant_id == tenant_id, Job.purged_at.is_(None), Job.created_at < cutoff,
                    Job.status.not_in(ACTIVE)).limit(1000))).all()
                uploads = (await session.scalars(select(Upload).where(
                    Upload.tenant_id == tenant_id, Upload.created_at < cutoff).limit(1000))).all()
            for job in jobs:
                counts["objects"] += await purge_objects(gw, job)
                async with gw.sessionmaker() as session, session.begin():
                    await session.execute(update(Job).where(Job.id == job.id).values(purged_at=now))
                counts["jobs"] += 1
            for upload in uploads:
                await asyncio.to_thread(gw.store.delete, upload.key)
                async with gw.sessionmaker() as session, session.begin():
                    await session.execute(delete(Upload).where(Upload.id == upload.id))
                counts["uploads"] += 1
        async with gw.sessionmaker() as session, session.begin():
            result = await session.execute(delete(IdempotencyKey).where(
                IdempotencyKey.created_at < now - timedelta(seconds=gw.settings.idempotency_ttl_s)))
            counts["idempotency_keys"] = result.rowcount or 0
            await session.execute(update(WebhookEndpoint).where(
                WebhookEndpoint.previous_secret_expires_at < now).values(previous_secret=None,
                                                                         previous_secret_expires_at=None))
        if any(counts.values()):
            logger.info("retention sweep", extra={"fields": counts})
        return counts
