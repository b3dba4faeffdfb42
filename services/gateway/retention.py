"""The background sweeper: deletes job images and uploads past their tenant's retention period,
forgets expired idempotency keys and rotated-out webhook secrets, and removes orphans: objects under
`tenants/` that no database row refers to once they are older than `FACECAST_ORPHAN_GRACE_S` (what a process
that died between storing an image and committing its row left behind)."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from services.gateway.db.models import (Category, CategoryExample, IdempotencyKey, Job, Tenant, Upload, VirtualModel,
                                        WebhookEndpoint)
from services.gateway.domain.jobs import ACTIVE, purge_objects
from shared.ids import utcnow

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
                counts["objects"] += await purge_objects(gw.store, job)
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
        counts["orphans"] = await self.sweep_orphans(now)
        if any(counts.values()):
            logger.info("retention sweep", extra={"fields": counts})
        return counts

    async def sweep_orphans(self, now: datetime) -> int:
        """Delete objects older than the grace period whose job, upload, virtual model, category or tenant
        has no row. Keys of other layouts are left alone (nothing here knows what refers to them)."""
        gw = self.gw
        cutoff = now.timestamp() - gw.settings.orphan_grace_s
        listed = await asyncio.to_thread(gw.store.list_modified, "tenants/")
        old = [key for key, modified in listed if modified < cutoff]
        if not old:
            return 0
        owners: dict[str, set[str]] = {"tenant": set(), "jobs": set(), "uploads": set(), "models": set(),
                                       "categories": set()}
        for key in old:
            parts = key.split("/")
            owners["tenant"].add(parts[1])
            if len(parts) >= 4 and parts[2] in owners:
                owners[parts[2]].add(parts[3] if parts[2] in ("jobs", "models") else key)
        async with gw.reader() as session:
            live = {"tenant": await _existing(session, Tenant.id, owners["tenant"]),
                    "jobs": await _existing(session, Job.id, owners["jobs"]),
                    "uploads": await _existing(session, Upload.key, owners["uploads"]),
                    "models": await _existing(session, VirtualModel.id, owners["models"])}
            category_keys = set()
            for column in (CategoryExample.latent, Category.direction):
                tenants = CategoryExample.tenant_id if column is CategoryExample.latent else Category.tenant_id
                for ref in (await session.scalars(select(column).where(tenants.in_(owners["tenant"])))).all():
                    category_keys.add((ref or {}).get("key"))
            live["categories"] = category_keys
        orphans = []
        for key in old:
            parts = key.split("/")
            if parts[1] not in live["tenant"]:
                orphans.append(key)
            elif len(parts) >= 4 and parts[2] in live:
                owner = parts[3] if parts[2] in ("jobs", "models") else key
                if owner not in live[parts[2]]:
                    orphans.append(key)
        for key in orphans:
            await asyncio.to_thread(gw.store.delete, key)
        if orphans:
            logger.info("orphaned objects removed", extra={"fields": {"count": len(orphans),
                                                                      "examples": orphans[:5]}})
        return len(orphans)


async def _existing(session, column, values: set[str]) -> set[str]:
    """The values that exist in `column`, asked in chunks (an IN list has limits)."""
    found, values = set(), sorted(values)
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        found.update((await session.scalars(select(column).where(column.in_(chunk)))).all())
    return found
