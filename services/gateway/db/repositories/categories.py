"""Categories (a tenant's fitted directions and prompt words) and the examples they are fitted from."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.db.models import Category, CategoryExample


async def of_tenant(session: AsyncSession, tenant_id: str) -> list[Category]:
    """The tenant's categories, by label then engine."""
    return list((await session.scalars(select(Category).where(Category.tenant_id == tenant_id)
                                       .order_by(Category.label, Category.engine))).all())


async def get(session: AsyncSession, tenant_id: str, label: str, engine: str) -> Category | None:
    """The tenant's category `label` for `engine`, if it has one."""
    return await session.get(Category, (tenant_id, label, engine))


async def save(session: AsyncSession, category: Category) -> None:
    """Insert the category, or replace the tenant's row with the same label and engine."""
    await session.merge(category)


def add_example(session: AsyncSession, example: CategoryExample) -> None:
    session.add(example)


async def examples(session: AsyncSession, tenant_id: str, label: str, engine: str) -> list[CategoryExample]:
    return list((await session.scalars(select(CategoryExample).where(
        CategoryExample.tenant_id == tenant_id, CategoryExample.label == label,
        CategoryExample.engine == engine))).all())


async def example_fits(session: AsyncSession, tenant_id: str, label: str, engine: str) -> list[bool]:
    """Whether each of the label's examples fits it (one entry per example)."""
    return list((await session.scalars(select(CategoryExample.fits).where(
        CategoryExample.tenant_id == tenant_id, CategoryExample.label == label,
        CategoryExample.engine == engine))).all())
