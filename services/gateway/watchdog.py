"""Jobs never stay queued or running forever.

Two halves:
- `requeue_active` (at start, in-process bus only): the bus lived in the process that stopped, so every
  queued or running job's request went with it. The job rows are handed back to the outbox relay, which
  publishes each job's first request again. The stages are idempotent: a step whose outcome record is
  in the store is forwarded without being recomputed, so the job resumes where it was.
- `JobWatchdog`: a job with no progress for `job_deadline_s` (a lost request, a stage nobody runs) fails
  with `job-deadline-exceeded`, naming the step it was waiting for; its webhook fires and its quota
  slot frees. Folding goes through the job-event consumer, so the failure is applied exactly like a
  stage's (once, with its event record and webhook), also when several gateways run the watchdog.
  Only time this gateway watched counts: right after a start (a long outage, events still waiting in
  Kafka, jobs just handed back) nothing is failed until a whole deadline has passed.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from services.gateway.db.models import Job
from services.gateway.domain.jobs import ACTIVE
from shared.events import ErrorInfo, JobEvent, JobEventKind
from shared.ids import utcnow
from shared.store import cancel_marker_key
from shared.telemetry import log_fields

if TYPE_CHECKING:
    from services.gateway.app import Gateway

logger = logging.getLogger("facecast.gateway.watchdog")
BATCH = 200
DEADLINE_CODE = "job-deadline-exceeded"


async def requeue_active(gw: "Gateway") -> int:
    """Mark every queued or running job undispatched, so the relay publishes its first request again."""
    async with gw.reader() as session:
        result = await session.execute(update(Job).where(Job.status.in_(ACTIVE), Job.deleted_at.is_(None))
                                       .values(dispatched_at=None, dispatch_lease_until=None))
    count = result.rowcount or 0
    if count:
        logger.info(f"{count} unfinished jobs handed back to the outbox: the in-process bus starts empty",
                    extra=log_fields(jobs=count))
    return count


def waiting_step(steps: list[dict], step_states: dict) -> dict:
    """The first step that has not succeeded (the one the job is stuck on)."""
    for step in steps:
        if (step_states.get(str(step["number"])) or {}).get("status") != "succeeded":
            return step
    return steps[-1]


class JobWatchdog:
    def __init__(self, gw: "Gateway") -> None:
        self.gw = gw
        self.watching_since = utcnow()

    @property
    def interval_s(self) -> float:
        return min(60.0, max(0.05, self.gw.settings.job_deadline_s / 4))

    async def run(self, stopping: asyncio.Event) -> None:
        self.watching_since = utcnow()
        while not stopping.is_set():
            try:
                await self.fail_stalled()
            except Exception:
                logger.exception("stalled-job check failed")
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass

    async def fail_stalled(self) -> int:
        """Fail the jobs without progress for longer than the deadline; returns how many."""
        gw = self.gw
        deadline_s = gw.settings.job_deadline_s
        cutoff = utcnow() - timedelta(seconds=deadline_s)
        if self.watching_since > cutoff:  # not watched for a whole deadline yet
            return 0
        async with gw.reader() as session:
            rows = (await session.execute(
                select(Job.id, Job.tenant_id, Job.trace_id, Job.steps, Job.step_states, Job.last_sequence, Job.status)
                .where(Job.status.in_(ACTIVE), Job.updated_at < cutoff).order_by(Job.id).limit(BATCH))).all()
        failed = 0
        for job_id, tenant_id, trace_id, steps, step_states, last_sequence, status in rows:
            step = waiting_step(steps, step_states or {})
            where = "was never started" if status == "queued" else f"stopped at step {step['number']} ({step['stage']})"
            error = ErrorInfo(code=DEADLINE_CODE, stage=step["stage"], retryable=True,
                              message=f"no progress for {deadline_s:g} s (FACECAST_JOB_DEADLINE_S): the job {where}")
            event = JobEvent(job_id=job_id, tenant_id=tenant_id, trace_id=trace_id, kind=JobEventKind.failed,
                             stage=step["stage"], step=step["number"], sequence=last_sequence + 1, error=error)
            if await gw.events.apply(event):
                failed += 1
                logger.warning(f"job failed: {error.message}", extra=log_fields(job_id=job_id, code=DEADLINE_CODE))
                # a request of the job still somewhere on the bus is skipped by the stages, not computed
                await asyncio.to_thread(gw.store.put, cancel_marker_key(tenant_id, job_id), b"", "text/plain")
        return failed
