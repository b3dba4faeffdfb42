"""`/v1/engines`: every engine with its licence; demo engines are marked (non-commercial)."""
from __future__ import annotations

from fastapi import APIRouter

from services.gateway.api.deps import GatewayDep, Reader
from services.gateway.schemas import EngineList
from shared.engines import commercial_use
from shared.licence_terms import use_restrictions
from shared.weights import ModelStore

router = APIRouter(prefix="/v1/engines", tags=["engines"])


@router.get("", response_model=EngineList, summary="Engines of every stage, with licences and demo flags")
async def list_engines(gw: GatewayDep, caller: Reader) -> dict:
    rows = gw.catalog.engines()
    records = ModelStore.from_settings(gw.settings).records()
    for row in rows:  # what the operator imported decides: its licence, and the use restrictions that come with it
        names = [name for name in row.get("weights", []) if isinstance(name, str)]
        row["imported"] = [records[name].public() | {"use_restrictions": use_restrictions(records[name].licence)}
                           for name in names if name in records]
        if row["imported"] and "code_licence" in row:  # the one rule, with the imported files judged by their records
            declared = [licence for name, licence in row.get("weight_licences", {}).items() if name not in records]
            row["commercial_use_as_imported"] = commercial_use(row["code_licence"], declared,
                                                               [records[name] for name in names if name in records])
    return {"data": rows}
