"""Castings: a generator job's request, with the job that makes its candidates."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import Casting, Job


async def get(session: AsyncSession, tenant_id: str, casting_id: str) -> Casting | None:
    """The tenant's casting (None for another tenant's)."""
    return await session.scalar(select(Casting).where(Casting.id == casting_id, Casting.tenant_id == tenant_id))


async def job(session: AsyncSession, job_id: str) -> Job | None:
    return await session.get(Job, job_id)


async def page(session: AsyncSession, tenant_id: str, before: str | None, limit: int) -> list[tuple[Casting, Job]]:
    """Up to `limit` of the tenant's castings with ids below `before`, newest first, each with its job."""
    query = select(Casting, Job).join(Job, Job.id == Casting.job_id).where(Casting.tenant_id == tenant_id)
    if before:
        query = query.where(Casting.id < before)
    return [tuple(row) for row in (await session.execute(query.order_by(Casting.id.desc()).limit(limit))).all()]


async def add(session: AsyncSession, job: Job, casting: Casting) -> None:
    """The casting's job, then the casting (which refers to it)."""
    session.add(job)
    await session.flush()
    session.add(casting)
