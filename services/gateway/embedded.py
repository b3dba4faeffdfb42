"""`facecast serve`: the gateway and every stage worker in one process on the embedded default
(in-process bus, local folder store, SQLite under `data_dir`), with a local tenant and key."""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from services.gateway.app import SHUTDOWN_GRACE_S, Gateway, create_app
from services.gateway.auth import create_key
from services.gateway.db.models import Tenant, utcnow
from services.gateway.tenants import create_tenant, ensure_tenant_with_key
from services.stages import load_stage_by_name, stage_names
from shared.bus.memory import MemoryBus
from shared.runtime import StageWorker
from shared.settings import Settings
from shared.stage import StageContext
from shared.store import open_store
from shared.weights import ModelStore

logger = logging.getLogger("facecast.serve")
LOCAL_TENANT = "local"


def build(settings: Settings, stages: list[str] | None = None):
    """The app with one worker per installed stage (or per named stage) on a shared in-process bus;
    unavailable stages are logged and skipped."""
    bus = MemoryBus()
    store = open_store(settings)
    gw = Gateway(settings, bus=bus, store=store)
    ctx = StageContext(settings, ModelStore.from_settings(settings))
    for name in stages if stages is not None else stage_names(settings):
        try:
            stage = load_stage_by_name(name, settings)
        except (ImportError, AttributeError, SystemExit) as exc:
            logger.warning(f"stage {name} is not available here and will not run: {exc}")
            continue
        gw.add_background(StageWorker(stage, bus, store, ctx))
    return create_app(settings, gateway=gw), gw


async def local_key(gw: Gateway, settings: Settings) -> tuple[str, bool]:
    """The key to print and whether it is new: FACECAST_BOOTSTRAP_API_KEY (adopted), else a new admin
    key for the local tenant (created on the first start; later starts keep its jobs and models)."""
    if settings.bootstrap_api_key:
        await ensure_tenant_with_key(gw.sessionmaker, LOCAL_TENANT, settings.bootstrap_api_key)
        return settings.bootstrap_api_key, False
    async with gw.reader() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.name == LOCAL_TENANT).order_by(Tenant.id).limit(1))
    if tenant is None:
        _, token = await create_tenant(gw.sessionmaker, LOCAL_TENANT)
        return token, True
    async with gw.sessionmaker() as session, session.begin():
        _, token = await create_key(session, tenant.id, ["admin"], name=f"facecast serve {utcnow():%Y-%m-%d %H:%M}")
    return token, True


async def serve(settings: Settings, announce=print) -> None:
    import uvicorn

    if "public_url" not in settings.model_fields_set:  # presigned URLs must point at this server
        settings = settings.model_copy(update={"public_url": f"http://{settings.host}:{settings.port}"})
    app, gw = build(settings)
    # SIGTERM: open SSE streams get SHUTDOWN_GRACE_S, then the stage steps in flight get theirs (Gateway.stop);
    # what is still queued resumes from the database at the next start
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if serving.done():
        await serving
        return
    token, created = await local_key(gw, settings)
    url = f"http://{settings.host}:{server.servers[0].sockets[0].getsockname()[1]}"
    announce(f"FaceCast is ready on {url}  (studio: {url}/studio, API docs: {url}/docs)")
    announce(f"API key for tenant {LOCAL_TENANT!r}{' (new)' if created else ''}: {token}")
    await serving
