"""`/v1/castings`: generate candidate faces (engine, n, category/strength, brief, near)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.api.deps import (ActiveJobs, Catalog, Cursor, Limit, ReadSessions, Reader, Relay, Sessions,
                                       SettingsDep, StoreDep, Writer)
from services.gateway.domain import castings
from services.gateway.schemas import CastingCreate, CastingOut, Page

router = APIRouter(prefix="/v1/castings", tags=["castings"])


class CastingList(Page):
    data: list[CastingOut]


@router.post("", status_code=202, response_model=CastingOut, summary="Cast candidate faces (a generator job)")
async def create_casting(body: CastingCreate, reader: ReadSessions, sessions: Sessions, catalog: Catalog,
                         settings: SettingsDep, store: StoreDep, active_jobs: ActiveJobs, relay: Relay,
                         caller: Writer) -> JSONResponse:
    casting, job = await castings.create_casting(reader, sessions, catalog, settings, active_jobs, relay, caller, body)
    view = CastingOut.model_validate(castings.casting_view(settings, store, casting, job))
    return JSONResponse(view.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/castings/{casting.id}"})


@router.get("", response_model=CastingList, summary="The tenant's castings, newest first")
async def list_castings(reader: ReadSessions, settings: SettingsDep, store: StoreDep, caller: Reader,
                        cursor: Cursor = None, limit: Limit = 20) -> dict:
    async with reader() as session:
        page, next_cursor = await castings.list_castings(session, caller.tenant_id, cursor, limit)
    return {"data": [castings.casting_view(settings, store, c, j) for c, j in page], "next_cursor": next_cursor}


@router.get("/{casting_id}", response_model=CastingOut, summary="A casting and its candidates (presigned URLs)")
async def get_casting(casting_id: str, reader: ReadSessions, settings: SettingsDep, store: StoreDep,
                      caller: Reader) -> dict:
    async with reader() as session:
        casting, job = await castings.get_casting(session, caller.tenant_id, casting_id)
    return castings.casting_view(settings, store, casting, job)
