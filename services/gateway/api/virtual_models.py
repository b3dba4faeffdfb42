"""`/v1/virtual-models`: accept a candidate, import a portrait with a rights attestation, read, rename, delete."""
from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Response
from sqlalchemy import select

from services.gateway import castings as casting_service
from services.gateway.api.deps import Cursor, GatewayDep, Limit, Reader, Writer
from services.gateway.db.models import Job, VirtualModel
from services.gateway.jobs import ACTIVE, discard, naming, resolve_source
from services.gateway.problems import Conflict
from services.gateway.schemas import (VirtualModelCreate, VirtualModelImport, VirtualModelList, VirtualModelOut,
                                      VirtualModelUpdate)
from shared.errors import NotFound
from shared.ids import new_id
from shared.store import delete_prefix

router = APIRouter(prefix="/v1/virtual-models", tags=["virtual models"])


async def _model(session, tenant_id: str, model_id: str) -> VirtualModel:
    model = await session.scalar(select(VirtualModel).where(VirtualModel.id == model_id,
                                                            VirtualModel.tenant_id == tenant_id))
    if model is None:
        raise NotFound(f"virtual model {model_id!r} does not exist")
    return model


@router.post("", status_code=201, response_model=VirtualModelOut, summary="Keep a casting candidate as a virtual model")
async def create_model(body: VirtualModelCreate, gw: GatewayDep, caller: Writer) -> dict:
    model = await casting_service.accept_candidate(gw, caller.tenant_id, body.casting_id, body.candidate, body.name)
    return casting_service.model_view(gw, model)


@router.post(":import", status_code=201, response_model=VirtualModelOut,
             summary="Import a portrait the shop has rights to (the consent attestation is required and recorded)")
async def import_model(body: VirtualModelImport, gw: GatewayDep, caller: Writer) -> dict:
    stored: list[str] = []  # a fetched image: removed again if the import is refused
    try:
        async with gw.reader() as session, naming("image"):
            image = await resolve_source(gw, session, caller.tenant_id, body.image,
                                         f"tenants/{caller.tenant_id}/uploads/{new_id('upl')}", stored)
        model = await casting_service.import_portrait(gw, caller.tenant_id, body.name, image,
                                                      body.consent.model_dump(mode="json"))
    except BaseException:
        await asyncio.shield(discard(gw, caller.tenant_id, stored))
        raise
    return casting_service.model_view(gw, model)


@router.get("", response_model=VirtualModelList, summary="The tenant's virtual models, newest first")
async def list_models(gw: GatewayDep, caller: Reader, cursor: Cursor = None, limit: Limit = 50) -> dict:
    query = select(VirtualModel).where(VirtualModel.tenant_id == caller.tenant_id)
    if cursor:
        query = query.where(VirtualModel.id < cursor)
    async with gw.reader() as session:
        rows = (await session.scalars(query.order_by(VirtualModel.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {"data": [casting_service.model_view(gw, m) for m in page],
            "next_cursor": page[-1].id if len(rows) > limit else None}


@router.get("/{model_id}", response_model=VirtualModelOut, summary="One virtual model")
async def get_model(model_id: str, gw: GatewayDep, caller: Reader) -> dict:
    async with gw.reader() as session:
        return casting_service.model_view(gw, await _model(session, caller.tenant_id, model_id))


@router.patch("/{model_id}", response_model=VirtualModelOut, summary="Rename a virtual model")
async def rename_model(model_id: str, body: VirtualModelUpdate, gw: GatewayDep, caller: Writer) -> dict:
    async with gw.sessionmaker() as session, session.begin():
        model = await _model(session, caller.tenant_id, model_id)
        model.name = body.name
    return casting_service.model_view(gw, model)


async def jobs_using(session, tenant_id: str, model_id: str) -> list[str]:
    """The queued or running jobs that read this model's objects (its portrait as a swap's `source`, or as the
    image itself by key), oldest first. A tenant's active jobs are bounded by its quota."""
    prefix = f"tenants/{tenant_id}/models/{model_id}/"
    rows = await session.execute(select(Job.id, Job.input, Job.steps).where(
        Job.tenant_id == tenant_id, Job.status.in_(ACTIVE)).order_by(Job.id))
    return [job_id for job_id, image, steps in rows if prefix in json.dumps([image, steps])]


@router.delete("/{model_id}", status_code=204, summary="Delete a virtual model and its portrait and latent",
               responses={409: {"description": "queued or running jobs use the model: it is kept; the answer names "
                                               "them (`details.jobs`, `details.count`)"}},
               description="Deletes the model, its portrait and its latent. While queued or running jobs use the "
                           "model (a swap's face, or its portrait as the image) it is refused with 409 `conflict` "
                           "naming those jobs: delete it once they finish, or cancel them first. Finished jobs keep "
                           "their results.")
async def delete_model(model_id: str, gw: GatewayDep, caller: Writer) -> Response:
    async with gw.sessionmaker() as session, session.begin():
        model = await _model(session, caller.tenant_id, model_id)
        active = await jobs_using(session, caller.tenant_id, model_id)
        if active:
            shown = ", ".join(active[:10]) + (f" and {len(active) - 10} more" if len(active) > 10 else "")
            raise Conflict(f"virtual model {model_id!r} is used by {len(active)} queued or running "
                           f"job{'s' if len(active) != 1 else ''} ({shown}): delete it once they finish, or cancel "
                           "them first", jobs=active[:100], count=len(active))
        await session.delete(model)
    await asyncio.to_thread(delete_prefix, gw.store, f"tenants/{caller.tenant_id}/models/{model_id}/")
    return Response(status_code=204)
