"""Liveness, readiness and Prometheus metrics (no authentication)."""
from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.api.deps import GatewayDep

router = APIRouter(tags=["health"])


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(gw: GatewayDep) -> JSONResponse:
    if gw.ready:
        return JSONResponse({"ready": True})
    return JSONResponse({"ready": False, "waiting_for": gw.waiting_for()}, status_code=503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
