"""Tables of the gateway. The same models run on SQLite (embedded default) and PostgreSQL.

Ids are time-ordered (`shared.ids.new_id`), so cursor pagination is "id below the cursor" on every list.
Datetimes are stored timezone-aware and always read back as UTC.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, TypeDecorator, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import utcnow


class UTCDateTime(TypeDecorator):
    """SQLite drops the zone; give every value back as aware UTC."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


# Integers that can outgrow 32 bits: seeds (drawn up to 2**32 - 1) and ids of append-only tables. SQLite
# stores every integer in 64 bits and only makes `INTEGER PRIMARY KEY` an autoincrementing rowid, so it
# keeps INTEGER; PostgreSQL gets BIGINT (migration 0003).
BigInt = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_limit_per_s: Mapped[float | None] = mapped_column(nullable=True)
    max_active_jobs: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


# a stage step the gateway runs for itself (services.gateway.steps): never listed, counted or webhooked
INTERNAL_JOB = "internal"


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(20), default="photo")  # photo | casting | internal (INTERNAL_JOB)
    batch_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    trace_id: Mapped[str] = mapped_column(String(40))
    steps: Mapped[list[Any]] = mapped_column(default=list)  # [{number, stage, params, inputs}] as requested
    input: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # ObjectRef of the working image
    step_states: Mapped[dict[str, Any]] = mapped_column(default=dict)  # "number" → {status, started_at, outcome}
    last_sequence: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # ObjectRef with provenance embedded
    engines: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(nullable=True)  # objects deleted (retention or DELETE)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    progress_webhook_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The job row is its own outbox record: written in one statement with the job, the first
    # StageRequest is published by the relay, which then sets `dispatched_at`.
    dispatched_at: Mapped[datetime | None] = mapped_column(nullable=True)
    dispatch_lease_until: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_jobs_undispatched", "id", postgresql_where=text("dispatched_at IS NULL"),
              sqlite_where=text("dispatched_at IS NULL")),
        Index("ix_jobs_tenant_id_id", "tenant_id", "id"),
        Index("ix_jobs_tenant_status", "tenant_id", "status"),
        Index("ix_jobs_purged_created", "purged_at", "created_at"),
        # the stalled-job watchdog reads unfinished jobs by their last change
        Index("ix_jobs_active_updated", "updated_at", postgresql_where=text("status IN ('queued', 'running')"),
              sqlite_where=text("status IN ('queued', 'running')")),
    )


class JobEventRecord(Base):
    """Applied job events, in order: the SSE stream reads these; (job, sequence, kind) is applied once."""
    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(40))
    step: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("uq_job_events_job_seq_kind", "job_id", "sequence", "kind", unique=True),)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"job_ids": [...], "batch_id": ...}
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Upload(Base):
    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    key: Mapped[str] = mapped_column(String(400))
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookDelivery(Base):
    """One message to one endpoint (the webhook outbox); its attempts are WebhookAttempt rows."""
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40))  # `webhook-id`: the same on a redelivery
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    duration_ms: Mapped[float] = mapped_column(default=0.0)


class Casting(Base):
    __tablename__ = "castings"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VirtualModel(Base):
    __tablename__ = "virtual_models"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # casting | import
    engine: Mapped[str | None] = mapped_column(String(40), nullable=True)
    engine_info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # licence, commercial use, demo
    weights_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seed: Mapped[int | None] = mapped_column(BigInt, nullable=True)  # generator seeds reach 2**32 - 1
    casting_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    candidate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    portrait: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ObjectRef
    latent: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # ObjectRef of the .npy
    embedding: Mapped[list[Any] | None] = mapped_column(nullable=True)
    # ObjectRef of the swapper's prepared source (.npz); None for models made before it existed
    prepared_source: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    consent: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # imports: the rights attestation
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_virtual_models_tenant_id_id", "tenant_id", "id"),)


class CategoryExample(Base):
    """A candidate the seller marked as fitting / not fitting a label; fitting reads their latents."""
    __tablename__ = "category_examples"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    label: Mapped[str] = mapped_column(String(100))
    engine: Mapped[str] = mapped_column(String(40))
    fits: Mapped[bool] = mapped_column(Boolean)
    latent: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ObjectRef of the .npy
    casting_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    candidate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_category_examples_tenant_label", "tenant_id", "label"),)


class Category(Base):
    """A direction fitted for one tenant and engine; the object holds the vector."""
    __tablename__ = "categories"
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    engine: Mapped[str] = mapped_column(String(40), primary_key=True)
    direction: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ObjectRef of the .npy
    default_strength: Mapped[float] = mapped_column(default=1.0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow)
