"""Jobs (photo jobs, castings' generator jobs and internal steps), their events and idempotency records."""
from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import INTERNAL_JOB, IdempotencyKey, Job, JobEventRecord


def add_all(session: AsyncSession, rows: list) -> None:
    session.add_all(rows)


async def insert_row(session: AsyncSession, row: dict) -> None:
    """One job as a Core INSERT (a table row, see `domain.jobs.new_row`): atomic by itself."""
    await session.execute(insert(Job.__table__).values(row))


async def get(session: AsyncSession, tenant_id: str, job_id: str, for_update: bool = False) -> Job | None:
    """The tenant's job unless deleted or internal; `for_update` locks the row until the transaction ends."""
    query = select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id, Job.deleted_at.is_(None),
                              Job.kind != INTERNAL_JOB)
    return await session.scalar(query.with_for_update() if for_update else query)


async def by_ids(session: AsyncSession, ids: list[str]) -> list[Job]:
    return list((await session.scalars(select(Job).where(Job.id.in_(ids)))).all())


async def page(session: AsyncSession, tenant_id: str, status: str | None, created_after, batch_id: str | None,
               before: str | None, limit: int) -> list[Job]:
    """Up to `limit` of the tenant's jobs (not deleted, not internal) with ids below `before`, newest first,
    filtered by status, creation time (after) and batch."""
    query = select(Job).where(Job.tenant_id == tenant_id, Job.deleted_at.is_(None), Job.kind != INTERNAL_JOB)
    if status:
        query = query.where(Job.status == status)
    if created_after:
        query = query.where(Job.created_at > created_after)
    if batch_id:
        query = query.where(Job.batch_id == batch_id)
    if before:
        query = query.where(Job.id < before)
    return list((await session.scalars(query.order_by(Job.id.desc()).limit(limit))).all())


async def count_active(session: AsyncSession, tenant_id: str, statuses: tuple[str, ...], at_most: int) -> int:
    """How many of the tenant's jobs (not internal) are in these statuses, counting up to `at_most`."""
    active_ids = select(Job.id).where(Job.tenant_id == tenant_id, Job.status.in_(statuses),
                                      Job.kind != INTERNAL_JOB).limit(at_most)
    return await session.scalar(select(func.count()).select_from(active_ids.subquery("active")))


async def idempotency_record(session: AsyncSession, tenant_id: str, key: str) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, (tenant_id, key))


async def events_after(session: AsyncSession, job_id: str, after: int) -> list[JobEventRecord]:
    """The job's event records with ids above `after`, in order."""
    return list((await session.scalars(select(JobEventRecord).where(
        JobEventRecord.job_id == job_id, JobEventRecord.id > after).order_by(JobEventRecord.id))).all())


async def any_job(session: AsyncSession, job_id: str) -> Job | None:
    """The job whatever its state (deleted ones too)."""
    return await session.get(Job, job_id)
