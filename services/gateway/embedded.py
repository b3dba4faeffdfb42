"""`facecast serve`: the gateway and every stage worker in one process on the embedded default
(in-process bus, local folder store, SQLite under `data_dir`), with a local tenant and key."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

from services.gateway.app import SHUTDOWN_GRACE_S, Gateway, create_app
from services.gateway.domain import tenants
from services.stages import load_stage_by_name, stage_names
from shared.bus.memory import MemoryBus
from shared.runtime import StageWorker
from shared.settings import Settings
from shared.stage import StageContext
from shared.store import open_store
from shared.weights import ModelStore

logger = logging.getLogger("facecast.serve")
LOCAL_TENANT = "local"
LOCAL_KEY_FILE = "local-api-key"  # in data_dir, mode 0600, next to signing-keys.json
SERVE_KEY_NAME = "facecast serve"


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


def _read_saved_key(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except (FileNotFoundError, IsADirectoryError):
        return None


def _save_key(path: Path, token: str) -> None:
    """The local key, readable by its owner only (0600), replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


async def local_key(gw: Gateway, settings: Settings) -> tuple[str, bool]:
    """The key to print and whether it is new: FACECAST_BOOTSTRAP_API_KEY (adopted), else the local tenant's
    admin key kept in `data_dir/local-api-key` (0600). A start reuses it; only when it is missing, revoked or
    not the local tenant's is a new one made, and the keys earlier starts made are revoked then (one live
    `facecast serve` key at a time)."""
    if settings.bootstrap_api_key:
        await tenants.ensure_tenant_with_key(gw.sessionmaker, LOCAL_TENANT, settings.bootstrap_api_key)
        return settings.bootstrap_api_key, False
    path = Path(settings.data_dir) / LOCAL_KEY_FILE
    saved = _read_saved_key(path)
    async with gw.reader() as session:
        tenant = await tenants.find_tenant(session, LOCAL_TENANT)
        usable = (tenant is not None and saved is not None
                  and await tenants.is_live_admin_key(session, tenant.id, saved))
    if usable:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
        return saved, False
    # the keys earlier starts printed and nobody kept (none is in the file): revoked, not left to pile up
    _, token = await tenants.renew_named_key(gw.sessionmaker, tenant, LOCAL_TENANT, SERVE_KEY_NAME)
    _save_key(path, token)
    return token, True


def server_config(app, settings: Settings):
    """uvicorn's configuration for `facecast serve`: proxy headers only from FACECAST_TRUSTED_PROXIES."""
    import uvicorn

    from services.gateway.proxies import uvicorn_proxy_options

    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                          lifespan="on", timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **uvicorn_proxy_options(settings))


async def serve(settings: Settings, announce=print) -> None:
    import uvicorn

    if "public_url" not in settings.model_fields_set:  # presigned URLs must point at this server
        settings = settings.model_copy(update={"public_url": f"http://{settings.host}:{settings.port}"})
    app, gw = build(settings)
    # SIGTERM: open SSE streams get SHUTDOWN_GRACE_S, then the stage steps in flight get theirs (Gateway.stop);
    # what is still queued resumes from the database at the next start
    config = server_config(app, settings)
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
