"""`/v1/categories`: teach a category by example (fitting / not fitting candidates) and fit it (latent engines),
or edit its prompt words (the diffusion engine); list both kinds, with FaceCast's seed categories for diffusion."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from services.gateway import castings as casting_service
from services.gateway.api.deps import GatewayDep, Reader, Writer
from services.gateway.db.models import Category
from services.gateway.schemas import (CategoryExampleCreate, CategoryExampleOut, CategoryFit, CategoryList, CategoryOut,
                                      CategoryWordsUpdate)
from shared.errors import InvalidInput

router = APIRouter(prefix="/v1/categories", tags=["categories"])
Label = Annotated[str, Path(pattern=r"^[\w-]{1,30}$", description="category name, e.g. elegant or 청량한")]


@router.get("", response_model=CategoryList,
            summary="Categories: fitted directions and edited words of this tenant, and the seed categories' words")
async def list_categories(gw: GatewayDep, caller: Reader) -> dict:
    async with gw.reader() as session:
        rows = (await session.scalars(select(Category).where(Category.tenant_id == caller.tenant_id)
                                      .order_by(Category.label, Category.engine))).all()
    ready = diffusion_ready(gw)
    own = [casting_service.category_view(c, ready) for c in rows]
    edited = {c["label"] for c in own if c["kind"] == "words"}
    seeds = [c for c in casting_service.seed_category_views(ready) if c["label"] not in edited]
    return {"data": own + seeds}


def diffusion_ready(gw) -> bool:
    """A diffusion pipeline is in the model store, so word categories can be used now."""
    from services.generator.engines import REGISTRY

    return gw.catalog.unavailable(REGISTRY.info(casting_service.WORDS_ENGINE).weights) is None


@router.put("/{label}/words", response_model=CategoryOut,
            summary="Set this tenant's prompt words for a category (diffusion engine); over a seed label, its own")
async def set_words(label: Label, body: CategoryWordsUpdate, gw: GatewayDep, caller: Writer) -> dict:
    category = await casting_service.set_category_words(gw, caller.tenant_id, label, body.phrase, body.negative,
                                                        body.labels)
    return casting_service.category_view(category, diffusion_ready(gw))


@router.post("/{label}/examples", status_code=201, response_model=CategoryExampleOut,
             summary="Mark a casting candidate as fitting (or not fitting) the label")
async def add_example(label: Label, body: CategoryExampleCreate, gw: GatewayDep, caller: Writer) -> dict:
    example, counts = await casting_service.add_example(gw, caller.tenant_id, label, body.casting_id, body.candidate,
                                                        body.fits)
    return {"id": example.id, "label": label, "engine": example.engine, "fits": example.fits,
            "casting_id": example.casting_id, "candidate": example.candidate, "created_at": example.created_at,
            "counts": counts}


@router.post("/{label}:fit", response_model=CategoryOut,
             summary="Fit the label's direction from its examples (at least 10 of each kind)")
async def fit(label: Label, body: CategoryFit, gw: GatewayDep, caller: Writer) -> dict:
    if body.engine == casting_service.WORDS_ENGINE:
        raise InvalidInput(f"the diffusion engine's categories are prompt words, not fitted directions: set them with "
                           f"PUT /v1/categories/{label}/words")
    category = await casting_service.fit_category(gw, caller.tenant_id, label, body.engine, body.default_strength)
    return casting_service.category_view(category)
