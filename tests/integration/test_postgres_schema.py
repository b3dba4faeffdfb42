"""The schema on PostgreSQL holds every value the code writes. SQLite (the embedded default) stores any
integer in 64 bits whatever the column says, so only PostgreSQL shows an INTEGER column that is too small."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import BigInteger, Integer, text

from services.gateway.db.models import Base, Tenant, VirtualModel
from services.gateway.db.session import make_engine, make_sessionmaker, migrate
from services.generator.engines.base import SEED_MAX
from shared.ids import new_id

pytestmark = pytest.mark.integration

# INTEGER columns whose values stay small, and why; any other integer column must be BIGINT.
BOUNDED = {
    ("tenants", "retention_days"): "1..365 (schemas.TenantUpdate)",
    ("tenants", "max_active_jobs"): "a per-tenant quota set by an operator",
    ("jobs", "last_sequence"): "2 × steps of one job",
    ("job_events", "sequence"): "2 × steps of one job",
    ("job_events", "step"): "steps of one job",
    ("idempotency_keys", "status_code"): "an HTTP status",
    ("webhook_deliveries", "attempts"): "length of the retry schedule",
    ("webhook_deliveries", "last_status_code"): "an HTTP status",
    ("webhook_attempts", "status_code"): "an HTTP status",
    ("virtual_models", "candidate"): "index within one casting (≤ 1000)",
    ("category_examples", "candidate"): "index within one casting (≤ 1000)",
}


def test_every_integer_column_is_bounded_or_64_bit():
    """A new integer column has to be put in BOUNDED (with the reason) or be 64-bit on PostgreSQL."""
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if not isinstance(column.type, (Integer, BigInteger)):
                continue
            pg_type = column.type.dialect_impl(_pg_dialect())
            wide = isinstance(pg_type, BigInteger)
            assert wide or (table.name, column.name) in BOUNDED, f"{table.name}.{column.name} is INTEGER on PostgreSQL"


def _pg_dialect():
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()


def test_migrated_postgres_schema_holds_the_largest_seed_and_64_bit_ids(postgres_db):
    async def check():
        engine = make_engine(postgres_db.url)
        try:
            await migrate(engine)
            async with engine.connect() as conn:
                types = dict((await conn.execute(text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN ('integer', 'bigint')"))).all())
                sequences = dict((await conn.execute(text(
                    "SELECT sequencename, max_value FROM pg_sequences WHERE schemaname = 'public'"))).all())
            for (table, column) in BOUNDED:
                assert types.pop(f"{table}.{column}") == "integer"
            assert types == {"virtual_models.seed": "bigint", "job_events.id": "bigint",
                             "webhook_attempts.id": "bigint"}
            assert sequences == {"job_events_id_seq": 2**63 - 1, "webhook_attempts_id_seq": 2**63 - 1}

            maker = make_sessionmaker(engine)
            tenant_id, model_id = new_id("ten"), new_id("vm")
            async with maker() as session, session.begin():
                session.add(Tenant(id=tenant_id, name="seeds"))
                await session.flush()
                session.add(VirtualModel(id=model_id, tenant_id=tenant_id, name="largest seed", source="casting",
                                         seed=SEED_MAX, portrait={}))
            async with maker() as session:
                assert (await session.get(VirtualModel, model_id)).seed == SEED_MAX == 2**32 - 1
                await session.execute(text("SELECT setval('job_events_id_seq', 2147483647)"))
                assert (await session.scalar(text("SELECT nextval('job_events_id_seq')"))) == 2**31
        finally:
            await engine.dispose()

    asyncio.run(check())


def _gateway_stderr(tmp_path, database_url: str, *args: str) -> tuple[int, str]:
    import os
    import subprocess

    from tests.integration.conftest import facecast_executable

    env = {k: v for k, v in os.environ.items() if not k.startswith("FACECAST_")}
    env.update(FACECAST_DATABASE_URL=database_url, FACECAST_DATA_DIR=str(tmp_path))
    done = subprocess.run([*facecast_executable(), "gateway", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stderr.strip()


def test_a_missing_database_or_a_url_without_asyncpg_is_one_line_that_says_what_to_do(postgres_db, tmp_path):
    missing = postgres_db.url.rsplit("/", 1)[0] + "/facecast_never_created"
    code, stderr = _gateway_stderr(tmp_path, missing)  # `--migrate-only` and `tenants create` check the same way
    assert code == 2 and len(stderr.splitlines()) == 1, stderr
    assert 'database "facecast_never_created" does not exist on 127.0.0.1:5432' in stderr
    assert "CREATE DATABASE" in stderr
    code, stderr = _gateway_stderr(tmp_path, postgres_db.dsn, "--migrate-only")  # postgresql://…
    assert code == 2 and len(stderr.splitlines()) == 1, stderr
    assert f"must use the asyncpg driver: postgresql+asyncpg://{postgres_db.dsn.split('://')[1]}" in stderr


def test_tenant_limits_given_on_the_command_line_fit_their_integer_columns():
    from services.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["tenants", "create", "shop", "--max-active-jobs", str(2**31 - 1)]).max_active_jobs == 2**31 - 1
    for option, value in (("--max-active-jobs", 2**31), ("--max-active-jobs", 0), ("--retention-days", 366)):
        with pytest.raises(SystemExit):
            parser.parse_args(["tenants", "create", "shop", option, str(value)])
