"""The job row as transactional outbox → bus.

A submission writes the job row in one statement (one transaction with its idempotency record when
there is one); the row says it still has to be dispatched. Right after the commit the request
publishes the job's first StageRequest itself (`dispatch`), and the relay marks such jobs dispatched
in bulk a moment later. Rows still undispatched after `GRACE_S` (the process died between commit and
publish or mark, or the bus was down) are claimed by the relay with one `UPDATE … RETURNING` (a lease,
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several gateways can relay at once) and published then.
A message may therefore be published twice after a crash; the stages are idempotent.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from services.gateway.db.models import Job
from services.gateway.domain.jobs import TERMINAL
from shared.bus import Bus
from shared.events import ObjectRef, StageRequest, Step, request_key, requests_topic
from shared.ids import utcnow

logger = logging.getLogger("facecast.gateway.outbox")
LEASE_S = 30
BATCH = 200
GRACE_S = 5.0  # a fresh row belongs to the request that wrote it; older undispatched rows to the relay
MARK_EVERY_S = 0.05


def first_request(job_id: str, tenant_id: str, trace_id: str, image: dict | None, steps: list[dict]) -> StageRequest:
    """The StageRequest that starts a job; its event id is deterministic, so a repeat is recognisable."""
    slip = [Step.model_validate(step) for step in steps]
    return StageRequest(job_id=job_id, tenant_id=tenant_id, trace_id=trace_id,
                        image=ObjectRef(**image) if image else None, steps=slip,
                        event_id=f"{job_id}-{slip[0].number}")


class OutboxRelay:
    def __init__(self, reader, bus: Bus, poll_s: float, tenant_partitions: int = 1) -> None:
        self.reader = reader  # autocommit sessions: the claim and the mark are one statement each
        self.bus = bus
        self.poll_s = poll_s
        self.tenant_partitions = tenant_partitions
        self.wake = asyncio.Event()
        self._published: list[str] = []  # published by requests, not yet marked

    async def dispatch(self, jobs: list[Job]) -> None:
        """Publish freshly committed jobs now; a failure leaves them to the relay."""
        try:
            for job in jobs:
                request = first_request(job.id, job.tenant_id, job.trace_id, job.input, job.steps)
                await self.bus.publish(requests_topic(request.current.stage), request.model_dump_json().encode(),
                                       key=request_key(job.tenant_id, job.id, self.tenant_partitions))
                self._published.append(job.id)
        except Exception:
            logger.exception("publishing a new job failed; the relay will publish it")
        self.wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            self.wake.clear()
            try:
                await self.mark_published()
                if loop.time() >= next_sweep:
                    if await self.relay_once() < BATCH:
                        next_sweep = loop.time() + self.poll_s
            except Exception:
                logger.exception("outbox relay failed; retrying")
                await asyncio.sleep(self.poll_s)
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll_s)
                await asyncio.sleep(MARK_EVERY_S)  # gather the marks of concurrent requests into one UPDATE
            except TimeoutError:
                pass
        await self.mark_published()

    async def mark_published(self) -> None:
        if not self._published:
            return
        done, self._published = self._published, []
        try:
            async with self.reader() as session:
                await session.execute(update(Job).where(Job.id.in_(done))
                                      .values(dispatched_at=utcnow(), dispatch_lease_until=None))
        except Exception:
            self._published.extend(done)
            raise

    async def relay_once(self) -> int:
        """Publish rows left undispatched past the grace period."""
        now = utcnow()
        due = (select(Job.id).where(Job.dispatched_at.is_(None), Job.created_at < now - timedelta(seconds=GRACE_S),
                                    or_(Job.dispatch_lease_until.is_(None), Job.dispatch_lease_until < now))
               .order_by(Job.id).limit(BATCH).with_for_update(skip_locked=True))
        claim = (update(Job).where(Job.id.in_(due.scalar_subquery()))
                 .values(dispatch_lease_until=now + timedelta(seconds=LEASE_S))
                 .returning(Job.id, Job.tenant_id, Job.trace_id, Job.input, Job.steps, Job.status))
        async with self.reader() as session:
            rows = sorted((await session.execute(claim)).all())
        done = []
        try:
            for job_id, tenant_id, trace_id, image, steps, status in rows:
                if status not in TERMINAL:  # a job canceled before dispatch never starts
                    request = first_request(job_id, tenant_id, trace_id, image, steps)
                    await self.bus.publish(requests_topic(request.current.stage), request.model_dump_json().encode(),
                                           key=request_key(tenant_id, job_id, self.tenant_partitions))
                done.append(job_id)
        finally:
            if done:
                self._published.extend(done)
                await self.mark_published()
        return len(done)
