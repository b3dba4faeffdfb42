"""Jobs: submission (validate everything, then one transaction for job rows, outbox and idempotency
record), the public view of a job, cancellation and deletion of its objects. Each function takes the
sessions, store, settings and other parts of the running gateway it uses explicitly."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.catalog import StageCatalog
from services.gateway.db.models import IdempotencyKey, Job, JobEventRecord, Upload
from services.gateway.db.repositories import jobs as repository
from services.gateway.db.repositories import uploads as upload_rows
from services.gateway.db.repositories import virtual_models as virtual_model_rows
from services.gateway.domain import objects
from services.gateway.netguard import SafeHttp
from services.gateway.problems import Conflict, IdempotencyKeyReused, RateLimited
from services.gateway.schemas import ImageSource, JobCreate, StepInput
from shared.errors import FaceCastError, InvalidInput, NotFound, PayloadTooLarge
from shared.events import ObjectRef, Step
from shared.ids import new_id, random_hex, utcnow
from shared.images import CONTENT_TYPES, EXTENSIONS, check_header
from shared.settings import Settings
from shared.store import ObjectStore, cancel_marker_key, check_tenant_key, delete_prefix, sha256_hex

if TYPE_CHECKING:
    from services.gateway.app import JobChanges
    from services.gateway.auth import Principal
    from services.gateway.outbox import OutboxRelay

ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "canceled")


@dataclass
class FilePart:
    """An image sent in the multipart body."""
    filename: str
    data: bytes


# ---- reading images -----------------------------------------------------------------------------
async def stored_image(store: ObjectStore, settings: Settings, tenant_id: str, key: str) -> ObjectRef:
    """An image already in the store under the tenant's prefix, checked like an upload."""
    check_tenant_key(tenant_id, key)
    data = await asyncio.to_thread(store.get_bytes, key)
    fmt = check_header(data, settings.max_pixels)
    return ObjectRef(key=key, content_type=CONTENT_TYPES[fmt], sha256=sha256_hex(data), size=len(data))


async def put_image(store: ObjectStore, settings: Settings, key_stem: str, data: bytes) -> ObjectRef:
    """Store an image of the request as `<key_stem>.<ext>` once its header passed the size and pixel limits."""
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"the image is {len(data):,} bytes; the limit is {settings.max_upload_bytes:,} "
                              "(FACECAST_MAX_UPLOAD_BYTES)", size=len(data), limit=settings.max_upload_bytes)

    def check_and_put() -> ObjectRef:
        fmt = check_header(data, settings.max_pixels)
        return store.put(f"{key_stem}.{EXTENSIONS[fmt]}", data, CONTENT_TYPES[fmt])

    return await asyncio.to_thread(check_and_put)


def identity_origin(model: VirtualModel) -> dict:
    """Where a virtual model's face came from: a result showing it must name that engine and licence too
    (a face cast with the demo engine stays non-commercial whatever the stages after it)."""
    info = model.engine_info or {}
    weights = (info.get("weights") or {}).get("name")
    return {"stage": "identity", "engine": model.engine or "import", "virtual_model_id": model.id,
            "licence": str(info.get("licence", "unknown")), "commercial_use": bool(info.get("commercial_use")),
            "demo": bool(info.get("demo")), "weights": [weights] if weights else [],
            "use_restrictions": info.get("use_restrictions")}


@asynccontextmanager
async def naming(label: str):
    """Prefix an error with the file or field it is about (`image 3 (shoe.png): …`), keeping its code and
    status: in a batch the client must know which image to fix."""
    try:
        yield
    except FaceCastError as exc:
        if type(exc).__init__ is not FaceCastError.__init__:  # an error with its own constructor: as it is
            raise
        raise type(exc)(f"{label}: {exc.message}", **{**exc.details, "field": label}) from exc


async def discard(sessions: async_sessionmaker, store: ObjectStore, tenant_id: str, keys: list[str]) -> None:
    """Remove what a refused request stored (images, and the upload rows of fetched step inputs)."""
    if not keys:
        return
    await asyncio.to_thread(lambda: [store.delete(key) for key in keys])
    async with sessions() as session, session.begin():
        await upload_rows.remove_keys(session, tenant_id, keys)


async def resolve_source(session: AsyncSession, sessions: async_sessionmaker, store: ObjectStore, settings: Settings,
                         http: SafeHttp, tenant_id: str, source: ImageSource | StepInput, key_stem: str,
                         stored: list[str] | None = None, prepared: bool = False) -> ObjectRef:
    """An image source as an ObjectRef: an upload, a key, a fetched URL, or a virtual model's portrait (its
    prepared source instead when `prepared`, the input takes one and the model has one). The key of an image
    it stores (a fetched URL) is appended to `stored`, for `discard` when the request fails."""
    if getattr(source, "virtual_model_id", None):
        model = await virtual_model_rows.get(session, tenant_id, source.virtual_model_id)
        if model is None:
            raise NotFound(f"virtual model {source.virtual_model_id!r} does not exist")
        face = model.prepared_source if prepared and model.prepared_source else model.portrait
        return ObjectRef(**{**face, "origin": identity_origin(model)})
    if source.upload_id:
        upload = await upload_rows.get(session, tenant_id, source.upload_id)
        if upload is None:
            raise NotFound(f"upload {source.upload_id!r} does not exist")
        if not await asyncio.to_thread(store.exists, upload.key):
            raise InvalidInput(f"upload {source.upload_id!r} has no content yet: PUT the image to its URL first")
        return await stored_image(store, settings, tenant_id, upload.key)
    if source.key:
        if not await asyncio.to_thread(store.exists, check_tenant_key(tenant_id, source.key)):
            raise NotFound(f"object {source.key!r} does not exist")
        return await stored_image(store, settings, tenant_id, source.key)
    data, _ = await http.fetch(source.url, settings.max_upload_bytes, settings.fetch_timeout_s)
    ref = await put_image(store, settings, key_stem, data)
    if stored is not None:
        stored.append(ref.key)
    upload_id = key_stem.rsplit("/", 1)[-1]
    if key_stem.startswith(f"tenants/{tenant_id}/uploads/"):  # not owned by one job: the sweeper must see it
        async with sessions() as writer, writer.begin():
            upload_rows.add(writer, Upload(id=upload_id, tenant_id=tenant_id, key=ref.key,
                                           content_type=ref.content_type))
    return ref


# ---- submission -----------------------------------------------------------------------------------
METADATA_KEY_CHARS = 40
METADATA_VALUE_CHARS = 500
METADATA_TOTAL_BYTES = 4096  # keys and values, UTF-8: a job's metadata always fits in its webhook


def check_metadata(metadata: dict[str, str]) -> None:
    """The documented metadata limits (20 keys, set by the schema; key and value length; total size): 413
    naming the key beyond them, so the job, its listing and its webhook stay small."""
    for key, value in metadata.items():
        if not key:
            raise InvalidInput("metadata: a key is empty", field="metadata")
        if len(key) > METADATA_KEY_CHARS:
            raise PayloadTooLarge(f"metadata key {key[:60]!r} has {len(key)} characters; keys have 1 to "
                                  f"{METADATA_KEY_CHARS}", field=f"metadata.{key[:60]}", limit=METADATA_KEY_CHARS)
        if len(value) > METADATA_VALUE_CHARS:
            raise PayloadTooLarge(f"metadata.{key}: the value has {len(value):,} characters; the limit is "
                                  f"{METADATA_VALUE_CHARS}", field=f"metadata.{key}", limit=METADATA_VALUE_CHARS)
    total = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if total > METADATA_TOTAL_BYTES:
        raise PayloadTooLarge(f"metadata: {total:,} bytes of keys and values; the limit is {METADATA_TOTAL_BYTES:,}",
                              field="metadata", limit=METADATA_TOTAL_BYTES)


def request_digest(spec: JobCreate, files: list[FilePart]) -> str:
    body = {"spec": spec.model_dump(mode="json"), "files": [sha256_hex(f.data) for f in files]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def replay_idempotent(reader: async_sessionmaker, settings: Settings, principal: "Principal",
                            idempotency_key: str, digest: str) -> list[Job] | None:
    """The jobs a previous request with this key made, or None when the key is new (or expired)."""
    async with reader() as session:
        record = await repository.idempotency_record(session, principal.tenant_id, idempotency_key)
        if record is None or record.created_at < utcnow() - timedelta(seconds=settings.idempotency_ttl_s):
            return None
        if record.request_sha256 != digest:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body",
                                       idempotency_key=idempotency_key)
        ids = record.response["job_ids"]
        jobs = await repository.by_ids(session, ids)
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(jobs, key=lambda j: order[j.id])


class ActiveJobCounts:
    """Queued + running jobs per tenant, read from the database at most once per `ttl_s` per tenant and
    counted up locally in between, so most submissions pay no round trip for the quota check. Other
    gateways' submissions within that window are seen at the next read (the quota is a guard, not an
    exact ledger)."""

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._counts: dict[str, tuple[int, float]] = {}

    async def current(self, session, tenant_id: str, limit: int) -> int:
        cached = self._counts.get(tenant_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self.ttl_s:
            return cached[0]
        count = await repository.count_active(session, tenant_id, ACTIVE, limit + 1)
        self._counts[tenant_id] = (count, now)
        return count

    def add(self, tenant_id: str, count: int) -> None:
        if tenant_id in self._counts:
            value, read_at = self._counts[tenant_id]
            self._counts[tenant_id] = (value + count, read_at)


_JOB_COLUMNS = [(attribute.key, attribute.columns[0]) for attribute in inspect(Job).column_attrs]


def new_row(job: Job) -> dict[str, Any]:
    """A new job as a table row for a Core INSERT (the ORM's unit of work was the largest single cost in a
    submission's profile); the column defaults the ORM would apply are set on the object too, which the
    answer shows."""
    row = {}
    for key, column in _JOB_COLUMNS:
        if key not in job.__dict__:
            default = column.default
            setattr(job, key, None if default is None else default.arg(None) if default.is_callable else default.arg)
        row[column.name] = getattr(job, key)
    return row


async def check_quota(active_jobs: ActiveJobCounts, settings: Settings, session, principal: "Principal",
                      adding: int) -> None:
    """Count `adding` more active jobs for the tenant, or raise RateLimited (429) past its limit (its own, else
    `settings.max_active_jobs`)."""
    limit = principal.max_active_jobs or settings.max_active_jobs
    active = await active_jobs.current(session, principal.tenant_id, limit)
    if active + adding > limit:
        raise RateLimited(f"{active} jobs are queued or running; this tenant may have {limit} at once",
                          retry_after_s=5.0, active=active, limit=limit)
    active_jobs.add(principal.tenant_id, adding)


@dataclass(frozen=True)
class Submission:
    """What a submission works with: the parts of the running gateway it reads and writes."""
    reader: async_sessionmaker  # autocommit sessions
    sessions: async_sessionmaker  # transactions
    store: ObjectStore
    settings: Settings
    catalog: StageCatalog  # the stages' contracts (params, inputs)
    http: SafeHttp  # image URLs, fetched through the SSRF guard
    active_jobs: ActiveJobCounts  # the quota
    relay: OutboxRelay  # publishes the first request after the commit


async def submit(ctx: Submission, principal: "Principal", spec: JobCreate, files: list[FilePart],
                 idempotency_key: str | None) -> list[Job]:
    """Validate the whole request (steps against the stages' contracts, images, quota), store its images, commit
    one job per image (with the idempotency record) and publish them. The jobs an earlier request with the same
    `Idempotency-Key` and body made, when there is one (IdempotencyKeyReused for another body)."""
    if not spec.images and not files:
        raise InvalidInput("no image: send `image` files (multipart) or `images` (upload_id, key or url)")
    count = len(spec.images) + len(files)
    if count > ctx.settings.max_batch_images:
        raise InvalidInput(f"{count} images; a batch may have at most {ctx.settings.max_batch_images}")
    digest = request_digest(spec, files) if idempotency_key else ""
    if idempotency_key and (previous := await replay_idempotent(ctx.reader, ctx.settings, principal, idempotency_key,
                                                                digest)) is not None:
        return previous

    tenant = principal.tenant_id
    steps = []
    for number, step_spec in enumerate(spec.steps, start=1):
        stage = ctx.catalog.get(step_spec.stage)
        if stage.name == "generator":
            raise InvalidInput("the generator runs through POST /v1/castings, not as a photo step")
        unknown = set(step_spec.inputs) - set(stage.extra_inputs)
        if unknown:
            raise InvalidInput(f"stage {stage.name!r} takes no input named {sorted(unknown)[0]!r}; it takes "
                               f"{', '.join(stage.extra_inputs) or 'none'}")
        inputs = dict(step_spec.inputs)
        if "source" in stage.extra_inputs and "source" not in inputs:
            if spec.virtual_model_id is None:
                raise InvalidInput(f"the {stage.name} step needs a face: give virtual_model_id")
            inputs["source"] = StepInput(virtual_model_id=spec.virtual_model_id)
        params = ctx.catalog.validate_params(stage, step_spec.params, frozenset(inputs))
        steps.append((number, stage.name, params, inputs, stage.prepared_inputs))

    job_ids = [new_id("job") for _ in range(count)]
    batch_id = new_id("bat") if count > 1 else None
    async with ctx.reader() as session:  # before anything is stored: a 429 leaves nothing behind
        await check_quota(ctx.active_jobs, ctx.settings, session, principal, count)
    stored: list[str] = []  # what this request wrote to the store; removed again if it is refused
    try:
        jobs = await _store_and_insert(ctx, principal, spec, files, steps, job_ids, batch_id, idempotency_key,
                                       digest, stored)
    except BaseException:
        ctx.active_jobs.add(tenant, -count)
        await asyncio.shield(discard(ctx.sessions, ctx.store, tenant, stored))
        raise
    if jobs and jobs[0].id not in job_ids:  # a concurrent request with the same Idempotency-Key won: its jobs stand
        await discard(ctx.sessions, ctx.store, tenant, stored)
        ctx.active_jobs.add(tenant, -count)
        return jobs
    await ctx.relay.dispatch(jobs)
    return jobs


async def _store_and_insert(ctx: Submission, principal: "Principal", spec: JobCreate, files: list[FilePart],
                            steps: list, job_ids: list[str], batch_id: str | None, idempotency_key: str | None,
                            digest: str, stored: list[str]) -> list[Job]:
    """Store the request's images (each error names its image) and commit the job rows; the jobs of the
    request that won an Idempotency-Key race instead of ours when we lost it."""
    tenant = principal.tenant_id
    async with ctx.reader() as session:
        resolved_steps = []
        for number, stage_name, params, inputs, prepared_inputs in steps:
            refs = {}
            for name, source in inputs.items():
                stem = f"tenants/{tenant}/uploads/{new_id('upl')}"
                async with naming(f"steps[{number - 1}].inputs.{name}"):
                    refs[name] = await resolve_source(session, ctx.sessions, ctx.store, ctx.settings, ctx.http,
                                                      tenant, source, stem, stored, prepared=name in prepared_inputs)
            resolved_steps.append(Step(number=number, stage=stage_name, params=params, inputs=refs))
        images: list[ObjectRef] = []
        for index, (job_id, source) in enumerate(zip(job_ids, spec.images)):
            async with naming(f"images[{index}]"):
                images.append(await resolve_source(session, ctx.sessions, ctx.store, ctx.settings, ctx.http, tenant,
                                                   source, f"tenants/{tenant}/jobs/{job_id}/0-input", stored))
    for index, (job_id, part) in enumerate(zip(job_ids[len(spec.images):], files), start=1):
        async with naming(f"image {index} ({part.filename})" if part.filename else f"image {index}"):
            images.append(await put_image(ctx.store, ctx.settings, f"tenants/{tenant}/jobs/{job_id}/0-input",
                                          part.data))
        stored.append(images[-1].key)

    now = utcnow()
    jobs = [Job(id=job_id, tenant_id=tenant, kind="photo", batch_id=batch_id, status="queued", created_at=now,
                updated_at=now, trace_id=random_hex(32), input=image.model_dump(),
                steps=[s.model_dump(mode="json") for s in resolved_steps], metadata_=dict(spec.metadata))
            for job_id, image in zip(job_ids, images)]
    if len(jobs) == 1 and not idempotency_key:
        async with ctx.reader() as session:  # one INSERT, atomic by itself: the job and its outbox record
            await repository.insert_row(session, new_row(jobs[0]))
        return jobs
    try:
        async with ctx.sessions() as session, session.begin():
            repository.add_all(session, jobs)
            if idempotency_key:
                repository.add_all(session, [IdempotencyKey(
                    tenant_id=tenant, key=idempotency_key, request_sha256=digest, status_code=202,
                    response={"job_ids": job_ids, "batch_id": batch_id}, created_at=now)])
    except DbIntegrityError:
        if idempotency_key:  # a concurrent request with the same key won the race
            previous = await replay_idempotent(ctx.reader, ctx.settings, principal, idempotency_key, digest)
            if previous is not None:
                return previous
        raise
    return jobs


# ---- the public view ----------------------------------------------------------------------------------

def retention_days(settings: Settings, tenant_retention: int | None) -> int:
    return tenant_retention or settings.retention_days


WARNING_CODE_MAX, WARNING_MESSAGE_MAX = 64, 1000


def step_warnings(report: Any, stage: str, step: int) -> list[dict]:
    """The `warnings` a stage put in its step report (`[{code, message, face}]`), each with the stage and
    step it came from. Read defensively: a stage's report is its own, so anything malformed is
    normalised (never dropped: a warning must not be lost because it was badly formed)."""
    raw = report.get("warnings") if isinstance(report, dict) else None
    if not isinstance(raw, list):
        return []
    found = []
    for entry in raw:
        if not isinstance(entry, dict):
            entry = {"message": str(entry)}
        face = entry.get("face")
        found.append({
            "code": str(entry.get("code") or "warning")[:WARNING_CODE_MAX],
            "message": str(entry.get("message") or entry.get("code") or "")[:WARNING_MESSAGE_MAX],
            "face": face if isinstance(face, int) and not isinstance(face, bool) else None,
            "stage": stage, "step": step,
        })
    return found


def job_warnings(job: Job) -> list[dict]:
    """Every warning of the job's finished steps, in step order. Derived from the step reports stored
    with the job (`step_states`), so there is nothing else to keep in step with them."""
    warnings = []
    for spec in job.steps:
        outcome = (job.step_states.get(str(spec["number"])) or {}).get("outcome") or {}
        warnings += step_warnings(outcome.get("report"), outcome.get("stage") or spec["stage"], spec["number"])
    return warnings


def job_view(settings: Settings, store: ObjectStore, job: Job, tenant_retention: int | None = None,
             expires_s: int | None = None) -> dict:
    """`JobOut`: state, steps with timings and presigned outputs (valid `expires_s`, default
    `settings.presign_expires_s`), warnings, and when the job's images expire."""
    purged = job.purged_at is not None
    steps = []
    for spec in job.steps:
        state = job.step_states.get(str(spec["number"]), {})
        outcome = state.get("outcome") or {}
        status = state.get("status", "pending")
        if job.status == "canceled" and status in ("pending", "running"):
            status = "canceled"
        started, finished = _dt(state.get("started_at")), _dt(outcome.get("finished_at"))
        elapsed_ms = (finished - started).total_seconds() * 1000 if started and finished else None
        # the step's own work, as its worker measured it; the rest of the elapsed time it waited (a killed
        # worker's partitions moving, retry backoff): kept apart so latency figures are not skewed by outages
        duration_ms = outcome.get("work_ms") if outcome.get("work_ms") is not None else elapsed_ms
        steps.append({
            "number": spec["number"], "stage": spec["stage"], "params": spec.get("params", {}), "status": status,
            "started_at": started, "finished_at": finished, "duration_ms": duration_ms,
            "wait_ms": max(0.0, round(elapsed_ms - duration_ms, 3)) if elapsed_ms is not None else None,
            "outputs": {name: objects.object_view(store, settings, ref, purged, expires_s)
                        for name, ref in outcome.get("outputs", {}).items()},
            "report": outcome.get("report", {}),
        })
    return {
        "id": job.id, "object": "job", "kind": job.kind, "batch_id": job.batch_id, "status": job.status,
        "created_at": job.created_at, "updated_at": job.updated_at, "finished_at": job.finished_at,
        "input": objects.object_view(store, settings, job.input, purged, expires_s), "steps": steps,
        "result": objects.object_view(store, settings, job.result, purged, expires_s),
        "engines": job.engines, "error": job.error,
        "warnings": job_warnings(job),
        "metadata": job.metadata_, "purged": purged,
        "expires_at": job.created_at + timedelta(days=retention_days(settings, tenant_retention)),
    }


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def get_job(session: AsyncSession, tenant_id: str, job_id: str, for_update: bool = False) -> Job:
    """The tenant's job (not deleted, not internal); NotFound otherwise. `for_update` locks the row, so a job
    event applied at the same moment cannot be overwritten."""
    job = await repository.get(session, tenant_id, job_id, for_update)
    if job is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return job


async def list_jobs(session: AsyncSession, tenant_id: str, status: str | None, created_after: datetime | None,
                    batch_id: str | None, cursor: str | None, limit: int) -> tuple[list[Job], str | None]:
    """One page of the tenant's jobs, newest first, and the next page's cursor (None at the end)."""
    rows = await repository.page(session, tenant_id, status, created_after, batch_id, cursor, limit + 1)
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None


async def events_since(session: AsyncSession, job_id: str, after: int) -> tuple[list[JobEventRecord], Job | None]:
    """The job's event records after record id `after`, and the job as it is now (None once it is gone)."""
    return await repository.events_after(session, job_id, after), await repository.any_job(session, job_id)


# ---- cancel and delete ------------------------------------------------------------------------------
async def cancel(sessions: async_sessionmaker, store: ObjectStore, changes: "JobChanges", tenant_id: str,
                 job_id: str) -> Job:
    """Cancel a queued or running job (Conflict once it finished): its `canceled` event, the cancel marker the
    stages check, its objects removed; SSE streams are woken."""
    async with sessions() as session, session.begin():
        job = await get_job(session, tenant_id, job_id, for_update=True)
        if job.status in TERMINAL:
            raise Conflict(f"job {job_id!r} already {job.status}", status=job.status)
        now = utcnow()
        job.status = "canceled"
        job.updated_at = job.finished_at = now
        job.error = {"code": "canceled", "message": "canceled by the client", "stage": None}
        repository.add_all(session, [JobEventRecord(job_id=job.id, sequence=job.last_sequence + 1, kind="canceled",
                                                    stage="", step=0, at=now, data={"status": "canceled"})])
    await stop_stages(store, job)
    await changes.notify()
    return job


async def stop_stages(store: ObjectStore, job: Job) -> None:
    """Write the marker the stages check before starting a step, then remove what the job wrote so far;
    objects of a step still running are removed when its late events arrive (the event consumer purges
    canceled jobs, keeping the marker)."""
    await asyncio.to_thread(store.put, cancel_marker_key(job.tenant_id, job.id), b"", "text/plain")
    await purge_objects(store, job, keep_cancel_marker=True)


async def purge_objects(store: ObjectStore, job: Job, keep_cancel_marker: bool = False) -> int:
    """Delete the objects under the job's own prefix; the cancel marker stays while stages may still meet
    the job's events. An upload the job used is not the job's: other jobs may use it too, so it lives until
    its own deletion or its own retention (the sweeper, by its `uploads` row)."""
    keep = frozenset({cancel_marker_key(job.tenant_id, job.id)} if keep_cancel_marker else ())
    return await asyncio.to_thread(delete_prefix, store, f"tenants/{job.tenant_id}/jobs/{job.id}/", keep)


async def delete(sessions: async_sessionmaker, store: ObjectStore, changes: "JobChanges", tenant_id: str,
                 job_id: str) -> None:
    """Remove the job's images now; the job is gone from the API (a running one is canceled first)."""
    async with sessions() as session, session.begin():
        job = await get_job(session, tenant_id, job_id, for_update=True)
        now = utcnow()
        was_active = job.status in ACTIVE
        if was_active:
            job.status = "canceled"
            job.finished_at = now
            job.error = {"code": "canceled", "message": "deleted by the client", "stage": None}
        job.deleted_at = job.purged_at = job.updated_at = now
    if was_active:
        await stop_stages(store, job)
    else:
        await purge_objects(store, job)
    await changes.notify()
