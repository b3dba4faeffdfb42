"""Castings (generator jobs), virtual models made from their candidates or imported with consent,
and categories taught by example (fitted per tenant, saved in the model store under a tenant name)."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from services.gateway.db.models import Casting, Category, CategoryExample, Job, VirtualModel
from services.gateway.jobs import check_quota, object_view
from services.gateway.problems import Conflict
from services.gateway.schemas import CastingCreate
from services.gateway.steps import run_step
from shared.errors import InvalidInput, NotFound
from shared.events import ObjectRef, Step
from shared.ids import new_id, random_hex, utcnow
from shared.store import get_verified
from shared.telemetry import log_fields
from shared.weights import ModelStore

if TYPE_CHECKING:
    from services.gateway.app import Gateway
    from services.gateway.auth import Principal

NPY = "application/x-npy"
NPZ = "application/x-npz"
PREPARED_SOURCE_FILE = "source.npz"  # the swapper's prepared source, beside the portrait
logger = logging.getLogger("facecast.gateway.castings")


def tenant_category_name(tenant_id: str, label: str) -> str:
    """The name a tenant's own category has in the shared model store (labels stay private per tenant)."""
    return f"t{hashlib.sha256(tenant_id.encode()).hexdigest()[:8]}-{label}"


def model_store(gw: "Gateway") -> ModelStore:
    return ModelStore.from_settings(gw.settings)


async def get_casting(session, tenant_id: str, casting_id: str) -> tuple[Casting, Job]:
    casting = await session.scalar(select(Casting).where(Casting.id == casting_id, Casting.tenant_id == tenant_id))
    if casting is None:
        raise NotFound(f"casting {casting_id!r} does not exist")
    return casting, await session.get(Job, casting.job_id)


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


def casting_view(gw: "Gateway", casting: Casting, job: Job, expires_s: int | None = None) -> dict:
    purged = job.purged_at is not None
    return {"id": casting.id, "object": "casting", "status": job.status, "job_id": job.id, "request": casting.request,
            "created_at": casting.created_at, "engines": job.engines, "error": job.error,
            "expected": expected_count(job),
            "candidates": [{"index": c["index"], "seed": c["seed"],
                            "image": object_view(gw, c["image"], purged, expires_s),
                            "latent": object_view(gw, c["latent"], purged, expires_s),
                            "licence": c["licence"], "check": c["check"], "prompt": c["prompt"]}
                           for c in candidates(job)]}


def casting_webhook_data(gw: "Gateway", casting: Casting, job: Job, expires_s: int) -> dict:
    view = casting_view(gw, casting, job, expires_s)
    return {"id": casting.id, "object": "casting", "status": job.status, "job_id": job.id,
            "engines": [{k: e[k] for k in ("stage", "engine", "licence", "commercial_use", "demo")}
                        for e in job.engines],
            "expected": view["expected"],
            "candidates": [{"index": c["index"], "seed": c["seed"], "url": c["image"]["url"]}
                           for c in view["candidates"]]}


async def _latent_ref(gw: "Gateway", session, tenant_id: str, ref: str) -> ObjectRef:
    """A latent to sample near: `<casting id>/<candidate>` or a virtual model id."""
    if "/" in ref:
        casting_id, _, index = ref.partition("/")
        if not index.isdigit():
            raise InvalidInput(f"near {ref!r}: expected <casting id>/<candidate index> or a virtual model id")
        _, job = await get_casting(session, tenant_id, casting_id)
        latent = candidate(job, int(index))["latent"]
    else:
        model = await session.scalar(select(VirtualModel).where(VirtualModel.id == ref,
                                                                VirtualModel.tenant_id == tenant_id))
        if model is None:
            raise NotFound(f"virtual model {ref!r} does not exist")
        latent = model.latent
    if not latent:
        raise InvalidInput(f"near {ref!r} has no latent (an imported portrait cannot be sampled near)")
    return ObjectRef(**latent)


async def create_casting(gw: "Gateway", principal: "Principal", body: CastingCreate) -> tuple[Casting, Job]:
    from services.generator.contract import consecutive_seeds, preflight

    stage = gw.catalog.get("generator")
    tenant = principal.tenant_id
    raw: dict = {"engine": body.engine}
    if body.seed is not None:
        raw["seeds"] = consecutive_seeds(body.seed, body.n)  # any seed a candidate reported
    else:
        raw["n"] = body.n
    for field in ("truncation", "strength", "brief", "spread", "mix", "steps", "guidance"):
        if getattr(body, field) is not None:
            raw[field] = getattr(body, field)
    async with gw.reader() as session:
        if body.category is not None:
            own = await session.get(Category, (tenant, body.category, body.engine))
            if body.engine == WORDS_ENGINE:  # words travel with the request; the label names them in the report
                raw["category"] = body.category
                if own:
                    raw["category_words"] = category_words(own)
            else:
                raw["category"] = tenant_category_name(tenant, body.category) if own else body.category
        near = [await _latent_ref(gw, session, tenant, ref) for ref in body.near]
    params = gw.catalog.validate_params(stage, raw)  # the whole casting: its limits and errors as one request
    await asyncio.to_thread(preflight, stage.parse_params(raw), len(near), model_store(gw))
    inputs = {f"near-{i}": ref for i, ref in enumerate(near)}
    steps = [Step(number=number, stage="generator", inputs=inputs,
                  params=gw.catalog.validate_params(stage, chunk_params(params, first_index, count)))
             for number, (first_index, count) in enumerate(chunk_plan(body.n), start=1)]
    now = utcnow()
    job = Job(id=new_id("job"), tenant_id=tenant, kind="casting", status="queued", created_at=now, updated_at=now,
              trace_id=random_hex(32), steps=[step.model_dump(mode="json") for step in steps], input=None,
              metadata_={})
    casting = Casting(id=new_id("cast"), tenant_id=tenant, job_id=job.id, created_at=now,
                      request=body.model_dump(mode="json", exclude_none=True))
    async with gw.reader() as session:
        await check_quota(gw, session, principal, 1)
    async with gw.sessionmaker() as session, session.begin():
        session.add(job)
        await session.flush()
        session.add(casting)
    await gw.relay.dispatch([job])
    return casting, job


# ---- virtual models ---------------------------------------------------------------------------------
async def prepare_portrait(gw: "Gateway", tenant_id: str, image: ObjectRef, about: str
                           ) -> tuple[bytes, list[float]]:
    """The swapper's `prepare` step on a portrait about to become a virtual model: the prepared source (.npz
    bytes, stored with the model so every swap reuses it) and the face's SFace embedding. A portrait that
    cannot make a clean source (no face, a face too small or cut by the border) is refused now with the
    swapper's reason, rather than at the shop's first job."""
    from services.swapper.contract import PREPARE, PREPARED_SOURCE, SOURCE_INPUT

    step = Step(number=1, stage="swapper", action=PREPARE, inputs={SOURCE_INPUT: image})
    outcome = await run_step(gw, tenant_id, step, f"{about} cannot become a virtual model")
    prepared = outcome["outputs"][PREPARED_SOURCE]
    data = await asyncio.to_thread(get_verified, gw.store, ObjectRef(**prepared))
    return data, outcome["report"]["embedding"]


def model_view(gw: "Gateway", model: VirtualModel) -> dict:
    return {"id": model.id, "object": "virtual_model", "name": model.name, "source": model.source,
            "engine": model.engine, "engine_info": model.engine_info, "weights_sha256": model.weights_sha256,
            "seed": model.seed, "casting_id": model.casting_id, "candidate": model.candidate,
            "portrait": object_view(gw, model.portrait, False), "latent": object_view(gw, model.latent, False),
            "consent": model.consent, "created_at": model.created_at}


def _planned(key: str, data: bytes, content_type: str) -> ObjectRef:
    """The ref `store.put` will return for these bytes, known before anything is written."""
    return ObjectRef(key=key, content_type=content_type, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


async def save_model(gw: "Gateway", model: VirtualModel, writes: list[tuple[str, bytes, str]]) -> None:
    """The model's row and its objects, so that a failure leaves neither.

    The INSERT runs first (a row the database refuses, such as a seed too wide for its column, writes no
    object); the objects are written inside its transaction; if a write or the commit fails, the objects
    already written are deleted before the error goes on."""
    written: list[str] = []
    try:
        async with gw.sessionmaker() as session, session.begin():
            session.add(model)
            await session.flush()
            for key, data, content_type in writes:
                await asyncio.to_thread(gw.store.put, key, data, content_type)
                written.append(key)
    except BaseException:
        for key in written:
            try:
                await asyncio.to_thread(gw.store.delete, key)
            except Exception:
                logger.exception("could not delete an object of a virtual model that was not saved",
                                 extra=log_fields(key=key, model_id=model.id))
        raise


async def accept_candidate(gw: "Gateway", tenant_id: str, casting_id: str, index: int, name: str) -> VirtualModel:
    async with gw.reader() as session:
        _, job = await get_casting(session, tenant_id, casting_id)
    chosen = candidate(job, index)
    report = step_report(job, chosen["step"])
    model_id = new_id("vm")
    prefix = f"tenants/{tenant_id}/models/{model_id}"

    prepared, embedding = await prepare_portrait(gw, tenant_id, ObjectRef(**chosen["image"]),
                                                 f"candidate {index} (pick another candidate)")

    def read() -> list[tuple[str, bytes, str]]:
        image = gw.store.get_bytes(chosen["image"]["key"])
        writes = [(f"{prefix}/portrait.png", image, chosen["image"]["content_type"])]
        if chosen["latent"]:
            writes.append((f"{prefix}/latent.npy", gw.store.get_bytes(chosen["latent"]["key"]), NPY))
        return writes

    writes = await asyncio.to_thread(read)
    portrait = _planned(*writes[0])
    latent = _planned(*writes[1]) if len(writes) > 1 else None
    writes.append((f"{prefix}/{PREPARED_SOURCE_FILE}", prepared, NPZ))
    weights = report.get("weights_record") or {}
    model = VirtualModel(
        id=model_id, tenant_id=tenant_id, name=name, source="casting", engine=report.get("engine"),
        engine_info={k: report.get(k) for k in ("stage", "licence", "commercial_use", "demo", "resolution",
                                                "latent_space")}
        | {"weights": weights} | diffusion_origin(report, chosen),
        weights_sha256=weights.get("sha256"), seed=chosen["seed"], casting_id=casting_id, candidate=index,
        portrait=portrait.model_dump(), latent=latent.model_dump() if latent else None, embedding=embedding,
        prepared_source=_planned(*writes[-1]).model_dump())
    await save_model(gw, model, writes)
    return model


def diffusion_origin(report: dict, chosen: dict) -> dict:
    """What a diffusion candidate's face keeps with its virtual model: the imported weights' own licence and use
    restrictions (shown in every result that uses the face), the prompts and the pipeline family."""
    if report.get("engine") != WORDS_ENGINE:
        return {}
    return {"licence": chosen["licence"]["licence"], "use_restrictions": chosen["licence"]["use_restrictions"],
            "prompt": chosen["prompt"], "negative_prompt": report.get("negative_prompt"),
            "family": report.get("family")}


async def import_portrait(gw: "Gateway", tenant_id: str, name: str, image: ObjectRef, consent: dict) -> VirtualModel:
    """A shop's own portrait: the attestation is recorded with the model; its face must make a clean source
    (the swapper's `prepare` step, whose output is kept with the model)."""
    model_id = new_id("vm")
    prepared, embedding = await prepare_portrait(gw, tenant_id, image, "the imported portrait")
    data = await asyncio.to_thread(gw.store.get_bytes, image.key)
    ext = image.key.rsplit(".", 1)[-1]
    prefix = f"tenants/{tenant_id}/models/{model_id}"
    writes = [(f"{prefix}/portrait.{ext}", data, image.content_type),
              (f"{prefix}/{PREPARED_SOURCE_FILE}", prepared, NPZ)]
    model = VirtualModel(id=model_id, tenant_id=tenant_id, name=name, source="import",
                         engine_info={"licence": "the shop's own portrait (rights attested)",
                                      "commercial_use": bool(consent.get("commercial_use_permitted")), "demo": False},
                         portrait=_planned(*writes[0]).model_dump(), embedding=embedding,
                         prepared_source=_planned(*writes[1]).model_dump(),
                         consent={**consent, "recorded_at": utcnow().isoformat()})
    await save_model(gw, model, writes)
    return model


# ---- categories -----------------------------------------------------------------------------------
async def add_example(gw: "Gateway", tenant_id: str, label: str, casting_id: str, index: int,
                      fits: bool) -> tuple[CategoryExample, dict[str, int]]:
    async with gw.reader() as session:
        casting, job = await get_casting(session, tenant_id, casting_id)
    chosen = candidate(job, index)
    if not chosen["latent"]:
        raise InvalidInput("this candidate has no latent to learn from")
    engine = casting.request.get("engine", "demo")
    example = CategoryExample(id=new_id("cex"), tenant_id=tenant_id, label=label, engine=engine, fits=fits,
                              latent=chosen["latent"], casting_id=casting_id, candidate=index)
    # The latent outlives the casting's retention: keep a copy with the example.
    key = f"tenants/{tenant_id}/categories/{label}/{example.id}.npy"
    ref = await asyncio.to_thread(lambda: gw.store.put(key, gw.store.get_bytes(chosen["latent"]["key"]), NPY))
    example.latent = ref.model_dump()
    async with gw.sessionmaker() as session, session.begin():
        session.add(example)
        await session.flush()
        rows = (await session.scalars(select(CategoryExample.fits).where(
            CategoryExample.tenant_id == tenant_id, CategoryExample.label == label,
            CategoryExample.engine == engine))).all()
    return example, {"fits": sum(rows), "does_not_fit": len(rows) - sum(rows)}


async def fit_category(gw: "Gateway", tenant_id: str, label: str, engine: str,
                       default_strength: float | None) -> Category:
    """The generator's `fit` step on the label's examples (their latents); the direction it saved in the model
    store is kept with the category too."""
    from services.generator.contract import DIRECTION, FIT, FITS_INPUT, NOT_FITS_INPUT

    async with gw.reader() as session:
        examples = (await session.scalars(select(CategoryExample).where(
            CategoryExample.tenant_id == tenant_id, CategoryExample.label == label,
            CategoryExample.engine == engine))).all()
    if not examples:
        raise NotFound(f"no examples for category {label!r} with engine {engine!r}")
    counts = {True: 0, False: 0}
    inputs = {}
    for example in examples:
        inputs[f"{FITS_INPUT if example.fits else NOT_FITS_INPUT}-{counts[example.fits]}"] = ObjectRef(**example.latent)
        counts[example.fits] += 1
    params = {"name": tenant_category_name(tenant_id, label), "engine": engine, "source": f"tenant examples ({label})"}
    if default_strength is not None:
        params["default_strength"] = default_strength
    step = Step(number=1, stage="generator", action=FIT, params=params, inputs=inputs)
    outcome = await run_step(gw, tenant_id, step, f"category {label!r} cannot be fitted")
    fitted = outcome["report"]
    vector = await asyncio.to_thread(get_verified, gw.store, ObjectRef(**outcome["outputs"][DIRECTION]))
    ref = await asyncio.to_thread(gw.store.put, f"tenants/{tenant_id}/categories/{label}/direction-{engine}.npy",
                                  vector, NPY)
    report = {k: fitted[k] for k in ("fits", "does_not_fit", "training_accuracy", "shrinkage", "fitted_strength",
                                     "weights")}
    category = Category(tenant_id=tenant_id, label=label, engine=engine, direction=ref.model_dump(),
                        default_strength=fitted["default_strength"], report=report, fitted_at=utcnow())
    async with gw.sessionmaker() as session, session.begin():
        await session.merge(category)
    return category


def category_view(category: Category, ready: bool = True) -> dict:
    if category.engine == WORDS_ENGINE:
        return {"label": category.label, "engine": category.engine, "kind": "words", "ready": ready,
                "source": "tenant", "fitted_at": category.fitted_at, "words": category_words(category), "report": {}}
    return {"label": category.label, "engine": category.engine, "kind": "direction", "ready": True,
            "source": "tenant", "default_strength": category.default_strength, "fitted_at": category.fitted_at,
            "report": category.report}


# ---- categories as prompt words (the diffusion engine) ----------------------------------------------
# A tenant's category for the diffusion engine is words, not a direction: its row (engine `diffusion`) keeps
# them in `report` ({"kind": "words", phrase, negative, labels}); castings carry them to the generator.
WORDS_ENGINE = "diffusion"


def category_words(category: Category) -> dict:
    report = category.report or {}
    return {"phrase": report.get("phrase", ""), "negative": report.get("negative", ""),
            "labels": dict(report.get("labels") or {})}


async def set_category_words(gw: "Gateway", tenant_id: str, label: str, phrase: str, negative: str,
                             labels: dict[str, str]) -> Category:
    """Add or replace the tenant's words for `label` (checked as the generator will check them)."""
    from services.generator.prompts import check_phrase

    words = {"kind": "words", "phrase": check_phrase(phrase, "phrase"), "negative": check_phrase(negative, "negative"),
             "labels": labels}
    category = Category(tenant_id=tenant_id, label=label, engine=WORDS_ENGINE, direction={}, default_strength=0.0,
                        report=words, fitted_at=utcnow())
    async with gw.sessionmaker() as session, session.begin():
        await session.merge(category)
    return category


def seed_category_views(ready: bool) -> list[dict]:
    """FaceCast's own categories for the diffusion engine (words from the versioned data file)."""
    from services.generator.prompts import load_word_book

    book = load_word_book()
    return [{"label": words.name, "engine": WORDS_ENGINE, "kind": "words", "ready": ready, "source": "seed",
             "words": {"phrase": words.phrase, "negative": words.negative, "labels": words.labels},
             "report": {"words_version": book.version}} for words in book.categories.values()]
