"""`/v1/engines`: every engine with its licence; demo engines are marked (non-commercial)."""
from __future__ import annotations

from fastapi import APIRouter

from services.gateway.api.deps import Catalog, Reader, SettingsDep
from services.gateway.domain import engines
from services.gateway.schemas import EngineList

router = APIRouter(prefix="/v1/engines", tags=["engines"])


@router.get("", response_model=EngineList, summary="Engines of every stage, with licences and demo flags")
async def list_engines(catalog: Catalog, settings: SettingsDep, caller: Reader) -> dict:
    return {"data": engines.list_engines(catalog, settings)}
