"""`/v1/virtual-models`: accept a candidate, import a portrait with a rights attestation, read, rename, delete."""
from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.api.deps import (Cursor, Http, Limit, ReadSessions, Reader, Sessions, SettingsDep, Steps,
                                       StoreDep, Writer)
from services.gateway.domain import virtual_models
from services.gateway.schemas import (VirtualModelCreate, VirtualModelImport, VirtualModelList, VirtualModelOut,
                                      VirtualModelUpdate)

router = APIRouter(prefix="/v1/virtual-models", tags=["virtual models"])


@router.post("", status_code=201, response_model=VirtualModelOut, summary="Keep a casting candidate as a virtual model")
async def create_model(body: VirtualModelCreate, reader: ReadSessions, sessions: Sessions, store: StoreDep,
                       settings: SettingsDep, steps: Steps, caller: Writer) -> dict:
    model = await virtual_models.accept_candidate(reader, sessions, store, steps, caller.tenant_id, body.casting_id,
                                                  body.candidate, body.name)
    return virtual_models.model_view(settings, store, model)


@router.post(":import", status_code=201, response_model=VirtualModelOut,
             summary="Import a portrait the shop has rights to (the consent attestation is required and recorded)")
async def import_model(body: VirtualModelImport, reader: ReadSessions, sessions: Sessions, store: StoreDep,
                       settings: SettingsDep, http: Http, steps: Steps, caller: Writer) -> dict:
    model = await virtual_models.import_model(reader, sessions, store, settings, http, steps, caller.tenant_id,
                                              body.name, body.image, body.consent.model_dump(mode="json"))
    return virtual_models.model_view(settings, store, model)


@router.get("", response_model=VirtualModelList, summary="The tenant's virtual models, newest first")
async def list_models(reader: ReadSessions, settings: SettingsDep, store: StoreDep, caller: Reader,
                      cursor: Cursor = None, limit: Limit = 50) -> dict:
    async with reader() as session:
        page, next_cursor = await virtual_models.list_models(session, caller.tenant_id, cursor, limit)
    return {"data": [virtual_models.model_view(settings, store, m) for m in page], "next_cursor": next_cursor}


@router.get("/{model_id}", response_model=VirtualModelOut, summary="One virtual model")
async def get_model(model_id: str, reader: ReadSessions, settings: SettingsDep, store: StoreDep,
                    caller: Reader) -> dict:
    async with reader() as session:
        model = await virtual_models.get_model(session, caller.tenant_id, model_id)
    return virtual_models.model_view(settings, store, model)


@router.patch("/{model_id}", response_model=VirtualModelOut, summary="Rename a virtual model")
async def rename_model(model_id: str, body: VirtualModelUpdate, sessions: Sessions, settings: SettingsDep,
                       store: StoreDep, caller: Writer) -> dict:
    model = await virtual_models.rename_model(sessions, caller.tenant_id, model_id, body.name)
    return virtual_models.model_view(settings, store, model)


@router.delete("/{model_id}", status_code=204, summary="Delete a virtual model and its portrait and latent",
               responses={409: {"description": "queued or running jobs use the model: it is kept; the answer names "
                                               "them (`details.jobs`, `details.count`)"}},
               description="Deletes the model, its portrait and its latent. While queued or running jobs use the "
                           "model (a swap's face, or its portrait as the image) it is refused with 409 `conflict` "
                           "naming those jobs: delete it once they finish, or cancel them first. Finished jobs keep "
                           "their results.")
async def delete_model(model_id: str, sessions: Sessions, store: StoreDep, caller: Writer) -> Response:
    await virtual_models.delete_model(sessions, store, caller.tenant_id, model_id)
    return Response(status_code=204)
