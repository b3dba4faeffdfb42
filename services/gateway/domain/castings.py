"""Castings: generator jobs that make candidate faces in chunks (engine, n, category and strength, brief,
near), their candidates as the steps finish them, and the view of a casting (API and `casting.ready`
webhook). A tenant's categories reach the generator under their model-store name (`tenant_category_name`),
or, for the diffusion engine, as their words."""
from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.auth import Principal
from services.gateway.catalog import StageCatalog
from services.gateway.db.models import Casting, Category, Job
from services.gateway.db.repositories import castings as repository
from services.gateway.db.repositories import categories as category_rows
from services.gateway.db.repositories import virtual_models as virtual_model_rows
from services.gateway.domain.objects import object_view
from services.gateway.domain.jobs import ActiveJobCounts, check_quota
from services.gateway.outbox import OutboxRelay
from services.gateway.problems import Conflict
from services.gateway.schemas import CastingCreate
from shared.errors import InvalidInput, NotFound
from shared.events import ObjectRef, Step
from shared.ids import new_id, random_hex, utcnow
from shared.settings import Settings
from shared.store import ObjectStore
from shared.weights import ModelStore

NPY = "application/x-npy"


def tenant_category_name(tenant_id: str, label: str) -> str:
    """The name a tenant's own category has in the shared model store (labels stay private per tenant)."""
    return f"t{hashlib.sha256(tenant_id.encode()).hexdigest()[:8]}-{label}"


async def get_casting(session: AsyncSession, tenant_id: str, casting_id: str) -> tuple[Casting, Job]:
    """The tenant's casting and its job; NotFound otherwise."""
    casting = await repository.get(session, tenant_id, casting_id)
    if casting is None:
        raise NotFound(f"casting {casting_id!r} does not exist")
    return casting, await repository.job(session, casting.job_id)


async def list_castings(session: AsyncSession, tenant_id: str, cursor: str | None,
                        limit: int) -> tuple[list[tuple[Casting, Job]], str | None]:
    """One page of the tenant's castings with their jobs, newest first, and the next cursor (None at the end)."""
    rows = await repository.page(session, tenant_id, cursor, limit + 1)
    page = rows[:limit]
    return page, page[-1][0].id if len(rows) > limit else None


# A casting of N candidates is several generator steps, so that candidates show as they are made: the
# first step makes FIRST_CHUNK of them (the first face comes back fast), each later one up to CHUNK. A
# chunk is one model call on the generator (batched with other events there), so a larger CHUNK costs
# fewer hops and a smaller one shows faces sooner; every step is durable and idempotent on its own.
FIRST_CHUNK = 1
CHUNK = 4


def chunk_plan(n: int, first: int = FIRST_CHUNK, size: int = CHUNK) -> list[tuple[int, int]]:
    """[(first_index, count)] covering candidates 0…n-1: `first`, then up to `size` at a time."""
    if n < 1 or first < 1 or size < 1:
        raise ValueError(f"chunk_plan needs n, first and size >= 1, got {n}, {first}, {size}")
    chunks, start = [(0, min(first, n))], min(first, n)
    while start < n:
        chunks.append((start, min(size, n - start)))
        start += chunks[-1][1]
    return chunks


def chunk_params(params: dict, first_index: int, count: int) -> dict:
    """One chunk's generator params from the whole casting's: its slice of the seeds (or `n` random ones)
    and its first index; everything else (truncation, category, brief, spread, mix) is the same."""
    chunk = {k: v for k, v in params.items() if k not in ("seeds", "n", "first_index")}
    if params.get("seeds") is not None:
        chunk["seeds"] = params["seeds"][first_index:first_index + count]
    else:
        chunk["n"] = count
    return {**chunk, "first_index": first_index}


def generator_steps(job: Job) -> list[dict]:
    return sorted((s for s in job.steps if s.get("stage") == "generator"), key=lambda s: s["number"])


def expected_count(job: Job) -> int:
    """How many candidates the casting makes in all (every generator step's share)."""
    total = 0
    for step in generator_steps(job):
        params = step.get("params") or {}
        total += len(params["seeds"]) if params.get("seeds") is not None else int(params.get("n") or 0)
    return total


def candidates(job: Job) -> list[dict]:
    """[{index, image ref, latent ref, seed, step}] from every finished generator step, in index order:
    while the casting runs, the candidates made so far."""
    found: dict[int, dict] = {}
    for spec in generator_steps(job):
        state = job.step_states.get(str(spec["number"])) or {}
        outcome = state.get("outcome") or {}
        if state.get("status") != "succeeded" or not outcome:
            continue
        outputs, report = outcome.get("outputs", {}), outcome.get("report", {})
        entries = {c.get("artifact"): c for c in report.get("candidates", [])}
        for name, ref in outputs.items():
            prefix, _, number = name.partition("-")
            if prefix != "candidate" or not number.isdigit():
                continue
            index = int(number)
            entry = entries.get(name, {})
            found[index] = {"index": index, "image": ref, "latent": outputs.get(f"latent-{index}"),
                            "seed": entry.get("seed"), "step": spec["number"],
                            "licence": candidate_licence(report, entry),
                            "check": _check_view(entry), "prompt": entry.get("prompt")}
    return [found[i] for i in sorted(found)]


def candidate_licence(report: dict, entry: dict) -> dict:
    """The licence of the weights that made a candidate: the candidate's own entry (diffusion), else its step's."""
    weights = report.get("weights_record") or {}
    return {"licence": entry.get("licence", weights.get("licence", report.get("licence"))),
            "commercial_use": entry.get("commercial_use", report.get("commercial_use")),
            "demo": entry.get("demo", report.get("demo")), "use_restrictions": entry.get("use_restrictions")}


def _check_view(entry: dict) -> dict | None:
    if "check" not in entry:
        return None
    return {**entry["check"], "requested_seed": entry.get("requested_seed"), "replaced": entry.get("replaced", 0)}


def candidate(job: Job, index: int) -> dict:
    """A candidate already made: while the casting runs, as soon as its chunk finished. Not once the
    casting was canceled or its objects purged (they are gone)."""
    if job.status == "canceled" or job.purged_at is not None:
        raise InvalidInput(f"the casting is {'purged' if job.purged_at is not None else job.status}; "
                           "its candidates are gone")
    found = {c["index"]: c for c in candidates(job)}
    if index not in found:
        expected = expected_count(job)
        if 0 <= index < expected and job.status in ("queued", "running"):
            raise Conflict(f"candidate {index} is not made yet (the casting is {job.status}, "
                           f"{len(found)} of {expected} made); try again when it appears")
        raise NotFound(f"the casting has no candidate {index} (it has {len(found)})")
    return found[index]


def step_report(job: Job, number: int) -> dict:
    return ((job.step_states.get(str(number)) or {}).get("outcome") or {}).get("report", {})


def casting_view(settings: Settings, store: ObjectStore, casting: Casting, job: Job,
                 expires_s: int | None = None) -> dict:
    """`CastingOut`: the candidates made so far, with presigned URLs valid `expires_s` (default
    `settings.presign_expires_s`)."""
    purged = job.purged_at is not None
    return {"id": casting.id, "object": "casting", "status": job.status, "job_id": job.id, "request": casting.request,
            "created_at": casting.created_at, "engines": job.engines, "error": job.error,
            "expected": expected_count(job),
            "candidates": [{"index": c["index"], "seed": c["seed"],
                            "image": object_view(store, settings, c["image"], purged, expires_s),
                            "latent": object_view(store, settings, c["latent"], purged, expires_s),
                            "licence": c["licence"], "check": c["check"], "prompt": c["prompt"]}
                           for c in candidates(job)]}


def casting_webhook_data(settings: Settings, store: ObjectStore, casting: Casting, job: Job, expires_s: int) -> dict:
    """The `casting.ready` webhook's `data`: the casting with each candidate's URL (valid `expires_s`)."""
    view = casting_view(settings, store, casting, job, expires_s)
    return {"id": casting.id, "object": "casting", "status": job.status, "job_id": job.id,
            "engines": [{k: e[k] for k in ("stage", "engine", "licence", "commercial_use", "demo")}
                        for e in job.engines],
            "expected": view["expected"],
            "candidates": [{"index": c["index"], "seed": c["seed"], "url": c["image"]["url"]}
                           for c in view["candidates"]]}


async def _latent_ref(session: AsyncSession, tenant_id: str, ref: str) -> ObjectRef:
    """A latent to sample near: `<casting id>/<candidate>` or a virtual model id."""
    if "/" in ref:
        casting_id, _, index = ref.partition("/")
        if not index.isdigit():
            raise InvalidInput(f"near {ref!r}: expected <casting id>/<candidate index> or a virtual model id")
        _, job = await get_casting(session, tenant_id, casting_id)
        latent = candidate(job, int(index))["latent"]
    else:
        model = await virtual_model_rows.get(session, tenant_id, ref)
        if model is None:
            raise NotFound(f"virtual model {ref!r} does not exist")
        latent = model.latent
    if not latent:
        raise InvalidInput(f"near {ref!r} has no latent (an imported portrait cannot be sampled near)")
    return ObjectRef(**latent)


async def create_casting(reader: async_sessionmaker, sessions: async_sessionmaker, catalog: StageCatalog,
                         settings: Settings, active_jobs: ActiveJobCounts, relay: OutboxRelay, principal: Principal,
                         body: CastingCreate) -> tuple[Casting, Job]:
    """A generator job making `body.n` candidates in chunks (`chunk_plan`), checked whole before anything is
    queued: params by the generator's contract, the engine's words and weights (`preflight`, against the model
    store in `settings.model_dir`), the tenant's active-job quota. The first chunk is published at once."""
    from services.generator.contract import consecutive_seeds, preflight

    stage = catalog.get("generator")
    tenant = principal.tenant_id
    raw: dict = {"engine": body.engine}
    if body.seed is not None:
        raw["seeds"] = consecutive_seeds(body.seed, body.n)  # any seed a candidate reported
    else:
        raw["n"] = body.n
    for field in ("truncation", "strength", "brief", "spread", "mix", "steps", "guidance"):
        if getattr(body, field) is not None:
            raw[field] = getattr(body, field)
    async with reader() as session:
        if body.category is not None:
            own = await category_rows.get(session, tenant, body.category, body.engine)
            if body.engine == WORDS_ENGINE:  # words travel with the request; the label names them in the report
                raw["category"] = body.category
                if own:
                    raw["category_words"] = category_words(own)
            else:
                raw["category"] = tenant_category_name(tenant, body.category) if own else body.category
        near = [await _latent_ref(session, tenant, ref) for ref in body.near]
    params = catalog.validate_params(stage, raw)  # the whole casting: its limits and errors as one request
    await asyncio.to_thread(preflight, stage.parse_params(raw), len(near), ModelStore.from_settings(settings))
    inputs = {f"near-{i}": ref for i, ref in enumerate(near)}
    steps = [Step(number=number, stage="generator", inputs=inputs,
                  params=catalog.validate_params(stage, chunk_params(params, first_index, count)))
             for number, (first_index, count) in enumerate(chunk_plan(body.n), start=1)]
    now = utcnow()
    job = Job(id=new_id("job"), tenant_id=tenant, kind="casting", status="queued", created_at=now, updated_at=now,
              trace_id=random_hex(32), steps=[step.model_dump(mode="json") for step in steps], input=None,
              metadata_={})
    casting = Casting(id=new_id("cast"), tenant_id=tenant, job_id=job.id, created_at=now,
                      request=body.model_dump(mode="json", exclude_none=True))
    async with reader() as session:
        await check_quota(active_jobs, settings, session, principal, 1)
    async with sessions() as session, session.begin():
        await repository.add(session, job, casting)
    await relay.dispatch([job])
    return casting, job


# ---- categories as prompt words (the diffusion engine) ----------------------------------------------
# A tenant's category for the diffusion engine is words, not a direction: its row (engine `diffusion`) keeps
# them in `report` ({"kind": "words", phrase, negative, labels}); castings carry them to the generator.
WORDS_ENGINE = "diffusion"


def category_words(category: Category) -> dict:
    report = category.report or {}
    return {"phrase": report.get("phrase", ""), "negative": report.get("negative", ""),
            "labels": dict(report.get("labels") or {})}
