"""Folds `facecast.job-events` into job state.

Idempotent and ordered: an event is applied once per (job, sequence, kind); a progress event older
than what the job has seen is dropped; a finished job (succeeded, failed, canceled) never moves
again, so a late duplicate cannot move it backwards. Terminal transitions queue their webhooks in
the same transaction. The offset is committed only after the transaction, so a crash replays events
and the rules above make the replay harmless.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from services.gateway import provenance, webhooks
from services.gateway.db.models import INTERNAL_JOB, Casting, Job, JobEventRecord
from services.gateway.domain.jobs import TERMINAL, job_view, purge_objects, step_warnings
from shared.events import JOB_EVENTS_TOPIC, JobEvent, JobEventKind
from shared.ids import utcnow
from shared.telemetry import log_fields

if TYPE_CHECKING:
    from services.gateway.app import Gateway

logger = logging.getLogger("facecast.gateway.events")
GROUP = "facecast-gateway"
APPLY_ATTEMPTS = 5  # for failures other than the database being away
WEBHOOK_URL_EXPIRES_S = 7 * 24 * 3600  # S3's longest presign: a retried delivery must still point somewhere


def engines_from(step_states: dict, steps: list[dict]) -> list[dict]:
    """The identity's origin (a virtual model's engine) first, then each engine of the finished steps,
    once (a casting's chunks are several steps of one engine)."""
    engines = [dict(ref["origin"]) for step in steps for ref in (step.get("inputs") or {}).values()
               if ref.get("origin")]
    for number in sorted(step_states, key=int):
        outcome = step_states[number].get("outcome")
        if not outcome:
            continue
        report = outcome.get("report") or {}
        engine = {
            "stage": report.get("stage") or outcome.get("stage"), "engine": str(report.get("engine", "unknown")),
            "licence": str(report.get("licence", "unknown")), "commercial_use": bool(report.get("commercial_use")),
            "demo": bool(report.get("demo")), "weights": list(report.get("weights") or report.get("models") or []),
        }
        if engine not in engines:
            engines.append(engine)
    return engines


def webhook_job_data(gw: "Gateway", job: Job) -> dict:
    view = job_view(gw.settings, gw.store, job, expires_s=WEBHOOK_URL_EXPIRES_S)
    result = view["result"]
    return {
        "id": job.id, "object": "job", "kind": job.kind, "batch_id": job.batch_id, "status": job.status,
        "created_at": job.created_at, "finished_at": job.finished_at, "metadata": job.metadata_,
        "result": {k: result[k] for k in ("url", "url_expires_at", "content_type", "sha256", "size")} if result else None,
        "error": job.error,
        "warnings": view["warnings"],
        "engines": [{k: e[k] for k in ("stage", "engine", "licence", "commercial_use", "demo")} for e in job.engines],
        "steps": [{"number": s["number"], "stage": s["stage"], "status": s["status"]} for s in view["steps"]],
    }


async def purge_late_outputs(gw: "Gateway", job: Job) -> None:
    """What a step wrote after its job was canceled or deleted; the cancel marker stays for the stages."""
    if job.status == "canceled" or job.deleted_at is not None:
        await purge_objects(gw.store, job, keep_cancel_marker=True)


class JobEventConsumer:
    def __init__(self, gw: "Gateway") -> None:
        self.gw = gw
        self.ready = False

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = await self.gw.bus.subscribe([JOB_EVENTS_TOPIC], GROUP)
        self.ready = True
        try:
            while not stopping.is_set():
                deliveries = await consumer.getmany(100, timeout_ms=200)
                commits: dict[tuple[str, int], int] = {}
                for delivery in deliveries:
                    await self._apply_until_done(delivery.value, stopping)
                    commits[(delivery.topic, delivery.partition)] = delivery.offset + 1
                for (topic, partition), offset in commits.items():
                    await consumer.commit(topic, partition, offset)
        finally:
            self.ready = False
            await consumer.close()

    async def _apply_until_done(self, value: bytes, stopping: asyncio.Event) -> None:
        try:
            event = JobEvent.model_validate_json(value)
        except ValidationError as exc:
            logger.error("unreadable job event skipped", extra=log_fields(error=str(exc)[:500]))
            return
        delay, attempts = 0.2, 0
        while True:
            try:
                await self.apply(event)
                return
            except (DBAPIError, OSError):  # the database is away: keep the event (no commit), try again
                logger.exception("the database refused a job event; retrying", extra=log_fields(job_id=event.job_id))
            except Exception:  # a bug or an impossible event: do not let it block every other job
                attempts += 1
                logger.exception("applying a job event failed", extra=log_fields(job_id=event.job_id,
                                                                                 attempt=attempts))
                if attempts >= APPLY_ATTEMPTS:
                    logger.error("job event skipped after repeated failures",
                                 extra=log_fields(job_id=event.job_id, event_id=event.event_id))
                    return
            if stopping.is_set():
                raise asyncio.CancelledError
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def apply(self, event: JobEvent) -> bool:
        """Apply one event; False when it was a duplicate, late, or for an unknown/finished job."""
        gw = self.gw
        async with gw.reader() as session:
            job = await session.get(Job, event.job_id)
        if job is None or job.tenant_id != event.tenant_id:
            logger.warning("event for an unknown job", extra=log_fields(job_id=event.job_id))
            return False
        if job.status in TERMINAL:
            await purge_late_outputs(gw, job)
            return False
        result = None
        if event.kind == JobEventKind.completed and event.outcome and "image" in event.outcome.outputs:
            result = await self._result_with_provenance(job, event)

        webhook_jobs: list[tuple[str, Job]] = []
        async with gw.sessionmaker() as session, session.begin():
            job = await session.get(Job, event.job_id, with_for_update=True)
            if job.status in TERMINAL:  # canceled or deleted since the read above
                await purge_late_outputs(gw, job)
                return False
            duplicate = await session.scalar(select(JobEventRecord.id).where(
                JobEventRecord.job_id == job.id, JobEventRecord.sequence == event.sequence,
                JobEventRecord.kind == event.kind.value))
            if duplicate is not None:
                return False
            if event.kind == JobEventKind.progress and event.sequence <= job.last_sequence:
                return False
            now = utcnow()
            states = {k: dict(v) for k, v in job.step_states.items()}
            state = states.setdefault(str(event.step), {"status": "pending"})
            if event.outcome is not None:
                state["status"] = "succeeded"
                state["outcome"] = event.outcome.model_dump(mode="json")
                state.setdefault("started_at", event.outcome.started_at.isoformat())  # when no start was seen
            elif event.kind == JobEventKind.failed:
                state["status"] = "failed"
            else:
                state["status"] = "running"
                state["started_at"] = event.at.isoformat()
            job.step_states = states
            job.last_sequence = max(job.last_sequence, event.sequence)
            job.updated_at = now
            data = {"status": state["status"]}
            if event.outcome is not None and (warnings := step_warnings(event.outcome.report, event.outcome.stage,
                                                                         event.step)):
                data["warnings"] = warnings  # the SSE event of a finished step carries its warnings
            if event.kind == JobEventKind.completed:
                job.status = "succeeded"
                job.finished_at = now
                job.engines = engines_from(states, job.steps)
                job.result = result
                webhook_jobs.append(("casting.ready" if job.kind == "casting" else "job.succeeded", job))
            elif event.kind == JobEventKind.failed:
                job.status = "failed"
                job.finished_at = now
                job.engines = engines_from(states, job.steps)
                error = event.error
                job.error = {"code": error.code if error else "stage-error",
                             "message": error.message if error else "the stage failed", "stage": event.stage,
                             **({"details": error.details} if error and error.details else {})}
                data["error"] = job.error
                webhook_jobs.append(("job.failed", job))
            else:
                job.status = "running"
                if event.outcome is not None and self._progress_due(job, now):
                    job.progress_webhook_at = now
                    webhook_jobs.append(("job.progress", job))
            session.add(JobEventRecord(job_id=job.id, sequence=event.sequence, kind=event.kind.value,
                                       stage=event.stage, step=event.step, at=event.at, data=data))
            if job.kind == INTERNAL_JOB:  # a step the gateway runs for itself: the shop hears of its resource
                webhook_jobs.clear()
            for event_type, target in webhook_jobs:
                await webhooks.enqueue(session, job.tenant_id, event_type, await self._webhook_data(session, target,
                                                                                                  event_type))
        await gw.changes.notify()
        if webhook_jobs:
            gw.deliverer.wake.set()
        return True

    def _progress_due(self, job: Job, now) -> bool:
        last = job.progress_webhook_at
        return last is None or now - last >= timedelta(seconds=self.gw.settings.webhook_progress_interval_s)

    async def _webhook_data(self, session, job: Job, event_type: str) -> dict:
        if event_type == "casting.ready":
            from services.gateway.domain.castings import casting_webhook_data

            casting = await session.scalar(select(Casting).where(Casting.job_id == job.id))
            return casting_webhook_data(self.gw.settings, self.gw.store, casting, job, WEBHOOK_URL_EXPIRES_S)
        return webhook_job_data(self.gw, job)

    async def _result_with_provenance(self, job: Job, event: JobEvent) -> dict:
        """The final image again with XMP provenance, as `…/result.<ext>`; the stage's own output stays."""
        final = event.outcome.outputs["image"]
        states = dict(job.step_states)
        states[str(event.step)] = {"outcome": event.outcome.model_dump(mode="json")}
        engines = engines_from(states, job.steps)
        ext = final.key.rsplit(".", 1)[-1]
        key = f"tenants/{job.tenant_id}/jobs/{job.id}/result.{ext}"

        def write() -> dict:
            data = self.gw.store.get_bytes(final.key)
            tagged = provenance.embed(data, provenance.xmp_packet(job.id, engines, event.outcome.finished_at))
            return self.gw.store.put(key, tagged, final.content_type).model_dump()

        try:
            return await asyncio.to_thread(write)
        except ValueError as exc:  # not an image format we can tag: hand out the stage's output as it is
            logger.warning(f"no provenance for {final.key}: {exc}", extra=log_fields(job_id=job.id))
            return final.model_dump()
