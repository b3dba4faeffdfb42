"""Virtual models: a casting candidate kept, or a shop's own portrait imported with a rights attestation;
read, renamed, deleted. Either way the swapper's `prepare` step runs first (a face that cannot make a clean
source is refused now, with the swapper's reason) and its prepared source is kept with the model, so every
swap reuses it. Objects live under `tenants/<tenant>/models/<model>/`."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.domain.castings import NPY, WORDS_ENGINE, candidate, get_casting, step_report
from services.gateway.db.models import VirtualModel
from services.gateway.db.repositories import virtual_models as repository
from services.gateway.domain import StepRunner
from services.gateway.domain.jobs import discard, naming, resolve_source
from services.gateway.domain.objects import object_view
from services.gateway.netguard import SafeHttp
from services.gateway.schemas import ImageSource
from services.gateway.problems import Conflict
from shared.errors import NotFound
from shared.events import ObjectRef, Step
from shared.ids import new_id, utcnow
from shared.settings import Settings
from shared.store import ObjectStore, delete_prefix, get_verified
from shared.telemetry import log_fields

NPZ = "application/x-npz"
PREPARED_SOURCE_FILE = "source.npz"  # the swapper's prepared source, beside the portrait
logger = logging.getLogger("facecast.gateway.virtual_models")


def model_view(settings: Settings, store: ObjectStore, model: VirtualModel) -> dict:
    """`VirtualModelOut`, with presigned URLs of the portrait and the latent."""
    return {"id": model.id, "object": "virtual_model", "name": model.name, "source": model.source,
            "engine": model.engine, "engine_info": model.engine_info, "weights_sha256": model.weights_sha256,
            "seed": model.seed, "casting_id": model.casting_id, "candidate": model.candidate,
            "portrait": object_view(store, settings, model.portrait, False),
            "latent": object_view(store, settings, model.latent, False),
            "consent": model.consent, "created_at": model.created_at}


async def get_model(session: AsyncSession, tenant_id: str, model_id: str) -> VirtualModel:
    """The tenant's model; NotFound otherwise."""
    model = await repository.get(session, tenant_id, model_id)
    if model is None:
        raise NotFound(f"virtual model {model_id!r} does not exist")
    return model


async def list_models(session: AsyncSession, tenant_id: str, cursor: str | None,
                      limit: int) -> tuple[list[VirtualModel], str | None]:
    """One page of the tenant's models, newest first, and the next page's cursor (None at the end)."""
    rows = await repository.page(session, tenant_id, cursor, limit + 1)
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None


async def rename_model(sessions: async_sessionmaker, tenant_id: str, model_id: str, name: str) -> VirtualModel:
    async with sessions() as session, session.begin():
        model = await get_model(session, tenant_id, model_id)
        model.name = name
    return model


async def jobs_using(session: AsyncSession, tenant_id: str, model_id: str) -> list[str]:
    """The queued or running jobs that read this model's objects (its portrait as a swap's `source`, or as the
    image itself by key), oldest first. A tenant's active jobs are bounded by its quota."""
    prefix = f"tenants/{tenant_id}/models/{model_id}/"
    rows = await repository.job_inputs(session, tenant_id, ("queued", "running"))
    return [job_id for job_id, image, steps in rows if prefix in json.dumps([image, steps])]


async def delete_model(sessions: async_sessionmaker, store: ObjectStore, tenant_id: str, model_id: str) -> None:
    """Delete the model's row, then its objects. Conflict (409) naming the jobs (`details.jobs`, `count`) while
    queued or running jobs use it: the model is kept."""
    async with sessions() as session, session.begin():
        model = await get_model(session, tenant_id, model_id)
        active = await jobs_using(session, tenant_id, model_id)
        if active:
            shown = ", ".join(active[:10]) + (f" and {len(active) - 10} more" if len(active) > 10 else "")
            raise Conflict(f"virtual model {model_id!r} is used by {len(active)} queued or running "
                           f"job{'s' if len(active) != 1 else ''} ({shown}): delete it once they finish, or cancel "
                           "them first", jobs=active[:100], count=len(active))
        await repository.remove(session, model)
    await asyncio.to_thread(delete_prefix, store, f"tenants/{tenant_id}/models/{model_id}/")


async def prepare_portrait(store: ObjectStore, run_step: StepRunner, tenant_id: str, image: ObjectRef,
                           about: str) -> tuple[bytes, list[float]]:
    """The swapper's `prepare` step on a portrait about to become a virtual model: the prepared source (.npz
    bytes, stored with the model so every swap reuses it) and the face's SFace embedding. A portrait that
    cannot make a clean source (no face, a face too small or cut by the border) is refused now with the
    swapper's reason, rather than at the shop's first job."""
    from services.swapper.contract import PREPARE, PREPARED_SOURCE, SOURCE_INPUT

    step = Step(number=1, stage="swapper", action=PREPARE, inputs={SOURCE_INPUT: image})
    outcome = await run_step(tenant_id, step, f"{about} cannot become a virtual model")
    prepared = outcome["outputs"][PREPARED_SOURCE]
    data = await asyncio.to_thread(get_verified, store, ObjectRef(**prepared))
    return data, outcome["report"]["embedding"]


def _planned(key: str, data: bytes, content_type: str) -> ObjectRef:
    """The ref `store.put` will return for these bytes, known before anything is written."""
    return ObjectRef(key=key, content_type=content_type, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


async def save_model(sessions: async_sessionmaker, store: ObjectStore, model: VirtualModel,
                     writes: list[tuple[str, bytes, str]]) -> None:
    """The model's row and its objects, so that a failure leaves neither.

    The INSERT runs first (a row the database refuses, such as a seed too wide for its column, writes no
    object); the objects are written inside its transaction; if a write or the commit fails, the objects
    already written are deleted before the error goes on."""
    written: list[str] = []
    try:
        async with sessions() as session, session.begin():
            repository.add(session, model)
            await session.flush()
            for key, data, content_type in writes:
                await asyncio.to_thread(store.put, key, data, content_type)
                written.append(key)
    except BaseException:
        for key in written:
            try:
                await asyncio.to_thread(store.delete, key)
            except Exception:
                logger.exception("could not delete an object of a virtual model that was not saved",
                                 extra=log_fields(key=key, model_id=model.id))
        raise


def diffusion_origin(report: dict, chosen: dict) -> dict:
    """What a diffusion candidate's face keeps with its virtual model: the imported weights' own licence and use
    restrictions (shown in every result that uses the face), the prompts and the pipeline family."""
    if report.get("engine") != WORDS_ENGINE:
        return {}
    return {"licence": chosen["licence"]["licence"], "use_restrictions": chosen["licence"]["use_restrictions"],
            "prompt": chosen["prompt"], "negative_prompt": report.get("negative_prompt"),
            "family": report.get("family")}


async def accept_candidate(reader: async_sessionmaker, sessions: async_sessionmaker, store: ObjectStore,
                           run_step: StepRunner, tenant_id: str, casting_id: str, index: int,
                           name: str) -> VirtualModel:
    """Keep casting candidate `index` as a virtual model: its portrait, latent and prepared source copied
    under the model's prefix, with the engine, licence and weights that made it."""
    async with reader() as session:
        _, job = await get_casting(session, tenant_id, casting_id)
    chosen = candidate(job, index)
    report = step_report(job, chosen["step"])
    model_id = new_id("vm")
    prefix = f"tenants/{tenant_id}/models/{model_id}"

    prepared, embedding = await prepare_portrait(store, run_step, tenant_id, ObjectRef(**chosen["image"]),
                                                 f"candidate {index} (pick another candidate)")

    def read() -> list[tuple[str, bytes, str]]:
        image = store.get_bytes(chosen["image"]["key"])
        writes = [(f"{prefix}/portrait.png", image, chosen["image"]["content_type"])]
        if chosen["latent"]:
            writes.append((f"{prefix}/latent.npy", store.get_bytes(chosen["latent"]["key"]), NPY))
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
    await save_model(sessions, store, model, writes)
    return model


async def import_model(reader: async_sessionmaker, sessions: async_sessionmaker, store: ObjectStore,
                       settings: Settings, http: SafeHttp, run_step: StepRunner, tenant_id: str, name: str,
                       source: ImageSource, consent: dict) -> VirtualModel:
    """Import the portrait at `source` (an upload, a key or a URL, fetched through the SSRF guard) as a model;
    an image fetched for it is removed again if the import is refused."""
    stored: list[str] = []
    try:
        async with reader() as session, naming("image"):
            image = await resolve_source(session, sessions, store, settings, http, tenant_id, source,
                                         f"tenants/{tenant_id}/uploads/{new_id('upl')}", stored)
        return await import_portrait(sessions, store, run_step, tenant_id, name, image, consent)
    except BaseException:
        await asyncio.shield(discard(sessions, store, tenant_id, stored))
        raise


async def import_portrait(sessions: async_sessionmaker, store: ObjectStore, run_step: StepRunner, tenant_id: str,
                          name: str, image: ObjectRef, consent: dict) -> VirtualModel:
    """A shop's own portrait: the attestation is recorded with the model; its face must make a clean source
    (the swapper's `prepare` step, whose output is kept with the model)."""
    model_id = new_id("vm")
    prepared, embedding = await prepare_portrait(store, run_step, tenant_id, image, "the imported portrait")
    data = await asyncio.to_thread(store.get_bytes, image.key)
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
    await save_model(sessions, store, model, writes)
    return model
