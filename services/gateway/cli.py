"""`facecast serve`, `facecast gateway`, `facecast tenants create|list`, `facecast keys create|revoke`,
`facecast signing-key rotate`."""
from __future__ import annotations

import asyncio
import logging
import os


def _settings():
    from shared.settings import Settings

    return Settings()


def _serve(args) -> int:
    from services.gateway.embedded import serve
    from shared.telemetry import capture_native_stderr, configure_logging

    configure_logging(args.log_level)
    capture_native_stderr()
    settings = _settings()
    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    asyncio.run(serve(settings.model_copy(update=updates), announce=lambda line: print(line, flush=True)))
    return 0


def _gateway(args) -> int:
    import uvicorn

    from services.gateway.app import SHUTDOWN_GRACE_S

    from services.gateway.app import create_app
    from services.gateway.proxies import uvicorn_proxy_options
    from shared.telemetry import capture_native_stderr, configure_logging

    configure_logging(args.log_level)
    capture_native_stderr()
    if args.migrate_only:  # the deployment's one-shot init job
        asyncio.run(_with_database(lambda sessionmaker: asyncio.sleep(0)))
        print("database migrated", flush=True)
        return 0
    settings = _settings()
    asyncio.run(_with_database(lambda sessionmaker: asyncio.sleep(0)))  # a missing database is one line
    if settings.bus == "memory":
        logging.getLogger("facecast.gateway").warning(
            "FACECAST_BUS=memory: stage workers in other processes cannot see this gateway's jobs "
            "(use FACECAST_BUS=kafka, or `facecast serve` for everything in one process)")
    host, port = args.host or settings.host, args.port or settings.port
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False,
                    log_config=None,  # uvicorn's own lines go through the JSON handler too
                    timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **uvicorn_proxy_options(settings))
        return 0
    # Several processes on one port: each runs its own loops (outbox relay, event consumer in the
    # shared Kafka group, webhook deliveries, sweeper), which share the work through leases.
    os.environ[LOG_LEVEL_VARIABLE] = args.log_level
    uvicorn.run("services.gateway.cli:app_from_environment", factory=True, workers=args.workers, host=host,
                port=port, log_level="warning", access_log=False, log_config=None,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **uvicorn_proxy_options(settings))
    return 0


LOG_LEVEL_VARIABLE = "FACECAST_GATEWAY_LOG_LEVEL"


def _bounded(low: int, high: int):
    """An integer option that fits its INTEGER column (PostgreSQL refuses more than 2**31 - 1)."""
    import argparse

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def app_from_environment():
    """The app of one gateway worker process (`facecast gateway --workers N`), configured from FACECAST_*."""
    from services.gateway.app import create_app
    from shared.telemetry import capture_native_stderr, configure_logging

    configure_logging(os.environ.get(LOG_LEVEL_VARIABLE, "INFO"))
    capture_native_stderr()
    return create_app(_settings())


async def _with_database(work):
    from services.gateway.db.session import check_database, make_engine, make_sessionmaker, migrate

    engine = make_engine(_settings().resolved_database_url())
    try:
        await check_database(engine)
        await migrate(engine)
        return await work(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def _tenants_create(args) -> int:
    from services.gateway.domain.tenants import create_tenant

    async def work(sessionmaker):
        return await create_tenant(sessionmaker, args.name, scopes=[args.scope],
                                   rate_limit_per_s=args.rate_limit, max_active_jobs=args.max_active_jobs,
                                   retention_days=args.retention_days)

    tenant, token = asyncio.run(_with_database(work))
    print(f"tenant {tenant.id} ({tenant.name})")
    print(f"API key ({args.scope}; shown once): {token}")
    return 0


def _tenants_list(args) -> int:
    from sqlalchemy import select

    from services.gateway.db.models import Tenant

    async def work(sessionmaker):
        async with sessionmaker() as session:
            return (await session.scalars(select(Tenant).order_by(Tenant.id))).all()

    for tenant in asyncio.run(_with_database(work)):
        print(f"{tenant.id}\t{tenant.name}\t{tenant.created_at:%Y-%m-%d %H:%M}")
    return 0


def _signing_key_rotate(args) -> int:
    from shared.store.signing import MAX_URL_LIFETIME_S, key_file, rotate

    settings = _settings()
    if settings.signing_key:
        print("FACECAST_SIGNING_KEY is set, so the key file is not used: unset it to rotate through "
              f"{key_file(settings)}", flush=True)
        return 2
    key = rotate(key_file(settings))
    print(f"new signing key {key.id} in {key_file(settings)}; the previous key verifies the URLs it signed for "
          f"up to {MAX_URL_LIFETIME_S // 86400} days. Running gateways sign with the new key within a second.")
    return 0


def register(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="gateway + every stage worker in one process (embedded default)")
    gateway = subparsers.add_parser("gateway", help="the gateway alone (bus, store, database from FACECAST_*)")
    for parser, handler in ((serve, _serve), (gateway, _gateway)):
        parser.add_argument("--host", default=None)
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument("--log-level", default="INFO")
        parser.set_defaults(handler=handler)
    gateway.add_argument("--workers", type=int, default=1, help="gateway processes on the port (Kafka bus)")
    gateway.add_argument("--migrate-only", action="store_true", help="run the database migrations, then exit")

    tenants = subparsers.add_parser("tenants", help="manage tenants")
    tenant_commands = tenants.add_subparsers(dest="tenants_command", required=True)
    create = tenant_commands.add_parser("create", help="create a tenant and print its first API key")
    create.add_argument("name")
    create.add_argument("--scope", choices=["read", "write", "admin"], default="admin")
    create.add_argument("--rate-limit", type=float, default=None, help="requests/s (default: FACECAST_RATE_LIMIT_PER_S)")
    create.add_argument("--max-active-jobs", type=_bounded(1, 2**31 - 1), default=None)
    create.add_argument("--retention-days", type=_bounded(1, 365), default=None)
    create.set_defaults(handler=_tenants_create)
    listing = tenant_commands.add_parser("list", help="list tenants")
    listing.set_defaults(handler=_tenants_list)

    signing = subparsers.add_parser("signing-key", help="the local store's key for presigned URLs")
    signing_commands = signing.add_subparsers(dest="signing_command", required=True)
    signing_commands.add_parser("rotate", help="make a new key current; the old one verifies until its URLs "
                                "expire").set_defaults(handler=_signing_key_rotate)
