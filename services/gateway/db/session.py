"""Engine, sessions and migrations. The gateway migrates its database itself at start (Alembic)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from shared.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_347_021  # pg advisory lock id: gateways starting together migrate one at a time


def check_database_url(url: str) -> None:
    """The gateway runs on SQLAlchemy's asyncio engine: a PostgreSQL URL must name the asyncpg driver."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+")[0] in ("postgresql", "postgres") and scheme != "postgresql+asyncpg":
        raise ConfigError(f"FACECAST_DATABASE_URL must use the asyncpg driver: postgresql+asyncpg://{rest} "
                          f"(not {scheme}://)")


async def check_database(engine: AsyncEngine) -> None:
    """Connect once before anything starts, so that a database that is missing or unreachable is one
    line that says what to do instead of a traceback from the middle of the start."""
    url = engine.url
    try:
        async with engine.connect():
            return
    except Exception as exc:  # the driver's own exception types differ; their text is what we have
        text_ = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if url.get_backend_name() != "postgresql":
        raise ConfigError(f"cannot open the database {url.render_as_string(hide_password=True)}: {text_}")
    if "does not exist" in text_ and url.database and f'"{url.database}"' in text_:
        raise ConfigError(f'database "{url.database}" does not exist on {where}: create it first '
                          f'(psql -h {url.host or "localhost"} -U {url.username or "postgres"} -d postgres -c '
                          f'\'CREATE DATABASE "{url.database}"\'); the gateway creates the tables itself')
    raise ConfigError(f"cannot connect to PostgreSQL at {where} as {url.username or '(no user)'}: {text_}")


def make_engine(url: str) -> AsyncEngine:
    check_database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # WAL: readers do not block the writer
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _take_the_write_lock(connection):
            """pysqlite defers BEGIN to the first write, so a row read before it may be stale by then (a
            lost update: a job event overwriting a cancel). BEGIN IMMEDIATE serialises writing transactions
            from their first read, which is what SELECT ... FOR UPDATE does on PostgreSQL."""
            if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A pool large enough for the requests in flight plus the background loops: an overflow connection
    # is closed when returned, and a new one costs a TCP (and TLS) handshake and cold statement caches.
    # No pre-ping (a round trip per checkout); connections are recycled instead.
    return create_async_engine(url, pool_size=32, max_overflow=16, pool_recycle=1800)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions for writes: `async with maker() as s, s.begin():` is one transaction."""
    return async_sessionmaker(engine, expire_on_commit=False)


def make_reader(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions for reads in autocommit: a lookup is one round trip, without BEGIN and ROLLBACK."""
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; safe when several gateways start at once)."""
    def upgrade(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        await conn.run_sync(upgrade)
