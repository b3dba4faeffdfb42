"""`/v1/castings`: generate candidate faces (engine, n, category/strength, brief, near)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from services.gateway import castings as casting_service
from services.gateway.api.deps import Cursor, GatewayDep, Limit, Reader, Writer
from services.gateway.db.models import Casting, Job
from services.gateway.schemas import CastingCreate, CastingOut
from services.gateway.schemas import Page

router = APIRouter(prefix="/v1/castings", tags=["castings"])


class CastingList(Page):
    data: list[CastingOut]


@router.post("", status_code=202, response_model=CastingOut, summary="Cast candidate faces (a generator job)")
async def create_casting(body: CastingCreate, gw: GatewayDep, caller: Writer) -> JSONResponse:
    casting, job = await casting_service.create_casting(gw, caller, body)
    view = CastingOut.model_validate(casting_service.casting_view(gw, casting, job))
    return JSONResponse(view.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/castings/{casting.id}"})


@router.get("", response_model=CastingList, summary="The tenant's castings, newest first")
async def list_castings(gw: GatewayDep, caller: Reader, cursor: Cursor = None, limit: Limit = 20) -> dict:
    query = select(Casting, Job).join(Job, Job.id == Casting.job_id).where(Casting.tenant_id == caller.tenant_id)
    if cursor:
        query = query.where(Casting.id < cursor)
    async with gw.reader() as session:
        rows = (await session.execute(query.order_by(Casting.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return {"data": [casting_service.casting_view(gw, c, j) for c, j in page],
            "next_cursor": page[-1][0].id if len(rows) > limit else None}


@router.get("/{casting_id}", response_model=CastingOut, summary="A casting and its candidates (presigned URLs)")
async def get_casting(casting_id: str, gw: GatewayDep, caller: Reader) -> dict:
    async with gw.reader() as session:
        casting, job = await casting_service.get_casting(session, caller.tenant_id, casting_id)
    return casting_service.casting_view(gw, casting, job)
