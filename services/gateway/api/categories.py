"""`/v1/categories`: teach a category by example (fitting / not fitting candidates) and fit it (latent engines),
or edit its prompt words (the diffusion engine); list both kinds, with FaceCast's seed categories for diffusion."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.api.deps import Catalog, ReadSessions, Reader, Sessions, Steps, StoreDep, Writer
from services.gateway.domain import categories
from services.gateway.schemas import (CategoryExampleCreate, CategoryExampleOut, CategoryFit, CategoryList, CategoryOut,
                                      CategoryWordsUpdate)

router = APIRouter(prefix="/v1/categories", tags=["categories"])
Label = Annotated[str, Path(pattern=r"^[\w-]{1,30}$", description="category name, e.g. elegant or 청량한")]


@router.get("", response_model=CategoryList,
            summary="Categories: fitted directions and edited words of this tenant, and the seed categories' words")
async def list_categories(reader: ReadSessions, catalog: Catalog, caller: Reader) -> dict:
    async with reader() as session:
        return {"data": await categories.list_categories(session, catalog, caller.tenant_id)}


@router.put("/{label}/words", response_model=CategoryOut,
            summary="Set this tenant's prompt words for a category (diffusion engine); over a seed label, its own")
async def set_words(label: Label, body: CategoryWordsUpdate, sessions: Sessions, catalog: Catalog,
                    caller: Writer) -> dict:
    category = await categories.set_words(sessions, caller.tenant_id, label, body.phrase, body.negative, body.labels)
    return categories.category_view(category, categories.diffusion_ready(catalog))


@router.post("/{label}/examples", status_code=201, response_model=CategoryExampleOut,
             summary="Mark a casting candidate as fitting (or not fitting) the label")
async def add_example(label: Label, body: CategoryExampleCreate, reader: ReadSessions, sessions: Sessions,
                      store: StoreDep, caller: Writer) -> dict:
    example, counts = await categories.add_example(reader, sessions, store, caller.tenant_id, label, body.casting_id,
                                                   body.candidate, body.fits)
    return {"id": example.id, "label": label, "engine": example.engine, "fits": example.fits,
            "casting_id": example.casting_id, "candidate": example.candidate, "created_at": example.created_at,
            "counts": counts}


@router.post("/{label}:fit", response_model=CategoryOut,
             summary="Fit the label's direction from its examples (at least 10 of each kind)")
async def fit(label: Label, body: CategoryFit, reader: ReadSessions, sessions: Sessions, store: StoreDep,
              steps: Steps, caller: Writer) -> dict:
    category = await categories.fit_category(reader, sessions, store, steps, caller.tenant_id, label, body.engine,
                                             body.default_strength)
    return categories.category_view(category)
