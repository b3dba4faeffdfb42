"""The gateway: FastAPI app factory and the `Gateway` that owns its database, bus, store and loops.

`create_app(settings, bus=None, store=None)` builds the app; its lifespan migrates the database and
runs the background loops: outbox relay, job-event consumer, webhook deliverer and retention sweeper
(plus, in `facecast serve`, the stage workers that `embedded.py` adds).
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.gateway.auth import KeyVerifier
from services.gateway.catalog import StageCatalog
from services.gateway.db.session import make_engine, make_reader, make_sessionmaker, migrate
from services.gateway.events import JobEventConsumer
from services.gateway.domain.jobs import ActiveJobCounts
from services.gateway.limits import BodyLimit
from services.gateway.netguard import AddressPolicy, SafeHttp
from services.gateway.outbox import OutboxRelay
from services.gateway.problems import document_problems, install_problem_handlers, unexpected_error
from services.gateway.ratelimit import FailedAuths, TokenBuckets
from services.gateway.retention import RetentionSweeper
from services.gateway.schemas import JobCreate, Problem
from services.gateway.watchdog import JobWatchdog, requeue_active
from services.gateway.webhooks import WebhookDeliverer
from shared.bus import Bus, open_bus
from shared.ids import random_hex
from shared.settings import Settings
from shared.store import ObjectStore, open_store
from shared.telemetry import log_fields, request_id_var

logger = logging.getLogger("facecast.gateway")
access_logger = logging.getLogger("facecast.gateway.access")
# SIGTERM: how long open requests (an SSE stream lasts until its job ends) may run before they are closed
SHUTDOWN_GRACE_S = 10


class Background(Protocol):
    """A loop that runs beside the gateway (a stage worker in `facecast serve`)."""
    async def run(self) -> None: ...
    def request_stop(self) -> None: ...


class JobChanges:
    """Wakes SSE streams when any job changed in this process (they also poll, for other gateways)."""

    def __init__(self) -> None:
        self._condition = asyncio.Condition()

    async def notify(self) -> None:
        async with self._condition:
            self._condition.notify_all()

    async def wait(self, timeout_s: float) -> None:
        async with self._condition:
            try:
                await asyncio.wait_for(self._condition.wait(), timeout_s)
            except TimeoutError:
                pass


class Gateway:
    def __init__(self, settings: Settings, bus: Bus | None = None, store: ObjectStore | None = None) -> None:
        self.settings = settings
        self.owns_bus = bus is None
        self.bus = bus or open_bus(settings)
        self.store = store or open_store(settings)
        self.engine = make_engine(settings.resolved_database_url())
        self.sessionmaker = make_sessionmaker(self.engine)
        self.reader = make_reader(self.engine)
        self.keys = KeyVerifier(self.reader)
        self.buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.auth_failures = FailedAuths(settings.auth_failures_per_min, settings.auth_failure_burst)
        self.catalog = StageCatalog(settings)
        self.http = SafeHttp(AddressPolicy(settings.allow_http_urls, settings.netguard_allow_networks))
        self.relay = OutboxRelay(self.reader, self.bus, settings.outbox_poll_s, settings.tenant_partitions)
        self.deliverer = WebhookDeliverer(self.sessionmaker, self.reader, self.http, settings)
        self.events = JobEventConsumer(self)
        self.sweeper = RetentionSweeper(self)
        self.watchdog = JobWatchdog(self)
        self.changes = JobChanges()
        self.active_jobs = ActiveJobCounts()
        self.extras: list[Background] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def add_background(self, loop: Background) -> None:
        self.extras.append(loop)

    async def start(self) -> None:
        await migrate(self.engine)
        await self.bus.start()
        if not getattr(self.bus, "durable", True):  # the in-process bus starts empty: resume from the database
            await requeue_active(self)
        self._stopping = asyncio.Event()
        for name, coro in (("relay", self.relay.run(self._stopping)), ("events", self.events.run(self._stopping)),
                           ("webhooks", self.deliverer.run(self._stopping)),
                           ("sweeper", self.sweeper.run(self._stopping)),
                           ("watchdog", self.watchdog.run(self._stopping)),
                           *((f"extra-{i}", extra.run()) for i, extra in enumerate(self.extras))):
            task = asyncio.create_task(coro, name=f"gateway-{name}")
            task.add_done_callback(self._loop_ended)
            self._tasks.append(task)

    def _loop_ended(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None and not self._stopping.is_set():
            logger.error(f"background loop {task.get_name()} stopped", exc_info=task.exception())

    @property
    def ready(self) -> bool:
        return self.events.ready and all(not t.done() for t in self._tasks)

    def waiting_for(self) -> list[str]:
        """Why the gateway is not ready, for /readyz (empty when it is)."""
        reasons = [f"background loop {t.get_name()} stopped (see the log)" for t in self._tasks if t.done()]
        if not self.events.ready:
            reasons.append("joining consumer group facecast-gateway on facecast.job-events: partitions are "
                           "assigned after a rebalance, which waits up to the session timeout for a member "
                           "that left without saying so")
        return reasons

    async def stop(self) -> None:
        self._stopping.set()
        for extra in self.extras:
            extra.request_stop()
        self.relay.wake.set()
        self.deliverer.wake.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        if self.owns_bus:
            await self.bus.stop()
        await self.http.aclose()
        await self.engine.dispose()
        logger.info("gateway stopped" + ("" if getattr(self.bus, "durable", True) else
                                         "; unfinished jobs resume from the database at the next start"))


class RequestIdMiddleware:
    """`X-Request-Id` on every response (the caller's, or a new one) and a JSON access log line.

    It also turns an unhandled exception into the 500 problem itself: outside it the request id is no
    longer set, so the error's log line and response could not name it, and the access log would not
    know the status."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if 0 < len(supplied) <= 128 and supplied.isprintable() else random_hex(32)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode("latin-1"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status["code"]:  # the response has started: nothing else can be sent; the server logs it
                raise
            await unexpected_error(scope["path"])(scope, receive, send_with_id)
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(f"{scope['method']} {scope['path']} {status['code']}", extra=log_fields(
                    method=scope["method"], path=scope["path"], status=status["code"],
                    duration_ms=round((time.perf_counter() - started) * 1000, 2)))
            request_id_var.reset(token)


def create_app(settings: Settings, bus: Bus | None = None, store: ObjectStore | None = None,
               gateway: Gateway | None = None) -> FastAPI:
    from services.gateway.api import (castings, categories, engines, health, jobs, objects, tenants, uploads,
                                      virtual_models, webhook_endpoints)

    gw = gateway or Gateway(settings, bus, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    app = FastAPI(title="FaceCast API", version="1.0.0", lifespan=lifespan,
                  description="Virtual models for fashion e-commerce: cast a face, swap it into product photos, "
                              "enhance, apply makeup. Authenticate with `Authorization: Bearer <API key>`. "
                              "Errors are `application/problem+json`.")
    app.state.gateway = gw
    install_problem_handlers(app)
    for module in (jobs, uploads, objects, castings, virtual_models, categories, webhook_endpoints, tenants, engines,
                   health):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(RequestIdMiddleware)  # outermost: a 413 from BodyLimit carries the request id too
    try:
        from services.gateway.studio import mount_studio
    except ImportError:  # the studio's files are optional for an API-only deployment
        mount_studio = None
    if mount_studio is not None:
        mount_studio(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (JobCreate, Problem):
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(model_schema.pop("$defs", {}))
                components[model.__name__] = model_schema
            document_problems(schema)
            schema.setdefault("components", {})["securitySchemes"] = {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key `fck_…`"}}
            schema["security"] = [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
