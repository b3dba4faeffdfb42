"""Virtual models: faces kept from a casting or imported with consent."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import Job, VirtualModel


def add(session: AsyncSession, model: VirtualModel) -> None:
    session.add(model)


async def get(session: AsyncSession, tenant_id: str, model_id: str) -> VirtualModel | None:
    """The tenant's model (None for another tenant's)."""
    return await session.scalar(select(VirtualModel).where(VirtualModel.id == model_id,
                                                           VirtualModel.tenant_id == tenant_id))


async def page(session: AsyncSession, tenant_id: str, before: str | None, limit: int) -> list[VirtualModel]:
    """Up to `limit` of the tenant's models with ids below `before`, newest first."""
    query = select(VirtualModel).where(VirtualModel.tenant_id == tenant_id)
    if before:
        query = query.where(VirtualModel.id < before)
    return list((await session.scalars(query.order_by(VirtualModel.id.desc()).limit(limit))).all())


async def remove(session: AsyncSession, model: VirtualModel) -> None:
    await session.delete(model)


async def job_inputs(session: AsyncSession, tenant_id: str, statuses: tuple[str, ...]) -> list[tuple[str, dict, list]]:
    """(job id, input image ref, steps) of the tenant's jobs in these statuses, oldest first."""
    rows = await session.execute(select(Job.id, Job.input, Job.steps).where(
        Job.tenant_id == tenant_id, Job.status.in_(statuses)).order_by(Job.id))
    return [tuple(row) for row in rows]
