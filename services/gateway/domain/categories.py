"""Categories: taught by example and fitted (latent engines: a direction the generator's `fit` step finds
from the candidates a tenant marked as fitting or not), or written as prompt words (the diffusion engine);
listed with FaceCast's seed categories for diffusion. A tenant's categories are private: saved in the model
store under `t<tenant hash>-<label>` (`domain.castings.tenant_category_name`)."""
from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.domain.castings import (NPY, WORDS_ENGINE, candidate, category_words, get_casting,
                                              tenant_category_name)
from services.gateway.catalog import StageCatalog
from services.gateway.db.models import Category, CategoryExample
from services.gateway.db.repositories import categories as repository
from services.gateway.domain import StepRunner
from shared.errors import InvalidInput, NotFound
from shared.events import ObjectRef, Step
from shared.ids import new_id, utcnow
from shared.store import ObjectStore, get_verified

def category_view(category: Category, ready: bool = True) -> dict:
    """`CategoryOut` of a tenant's category; `ready` says whether a words category can be used now."""
    if category.engine == WORDS_ENGINE:
        return {"label": category.label, "engine": category.engine, "kind": "words", "ready": ready,
                "source": "tenant", "fitted_at": category.fitted_at, "words": category_words(category), "report": {}}
    return {"label": category.label, "engine": category.engine, "kind": "direction", "ready": True,
            "source": "tenant", "default_strength": category.default_strength, "fitted_at": category.fitted_at,
            "report": category.report}


def seed_category_views(ready: bool) -> list[dict]:
    """FaceCast's own categories for the diffusion engine (words from the versioned data file)."""
    from services.generator.prompts import load_word_book

    book = load_word_book()
    return [{"label": words.name, "engine": WORDS_ENGINE, "kind": "words", "ready": ready, "source": "seed",
             "words": {"phrase": words.phrase, "negative": words.negative, "labels": words.labels},
             "report": {"words_version": book.version}} for words in book.categories.values()]


def diffusion_ready(catalog: StageCatalog) -> bool:
    """A diffusion pipeline is in the model store, so word categories can be used now."""
    from services.generator.engines import REGISTRY

    return catalog.unavailable(REGISTRY.info(WORDS_ENGINE).weights) is None


async def list_categories(session: AsyncSession, catalog: StageCatalog, tenant_id: str) -> list[dict]:
    """The tenant's categories, then the seed categories it has not given its own words."""
    ready = diffusion_ready(catalog)
    own = [category_view(c, ready) for c in await repository.of_tenant(session, tenant_id)]
    edited = {c["label"] for c in own if c["kind"] == "words"}
    return own + [c for c in seed_category_views(ready) if c["label"] not in edited]


async def set_words(sessions: async_sessionmaker, tenant_id: str, label: str, phrase: str, negative: str,
                    labels: dict[str, str]) -> Category:
    """Add or replace the tenant's words for `label` (checked as the generator will check them)."""
    from services.generator.prompts import check_phrase

    words = {"kind": "words", "phrase": check_phrase(phrase, "phrase"), "negative": check_phrase(negative, "negative"),
             "labels": labels}
    category = Category(tenant_id=tenant_id, label=label, engine=WORDS_ENGINE, direction={}, default_strength=0.0,
                        report=words, fitted_at=utcnow())
    async with sessions() as session, session.begin():
        await repository.save(session, category)
    return category


async def add_example(reader: async_sessionmaker, sessions: async_sessionmaker, store: ObjectStore, tenant_id: str,
                      label: str, casting_id: str, index: int, fits: bool) -> tuple[CategoryExample, dict[str, int]]:
    """Mark a casting candidate as fitting (or not) `label`, for the casting's engine; its latent is copied
    with the example (it outlives the casting's retention). Returns the example and the label's counts
    ({fits, does_not_fit}). InvalidInput for a candidate without a latent."""
    async with reader() as session:
        casting, job = await get_casting(session, tenant_id, casting_id)
    chosen = candidate(job, index)
    if not chosen["latent"]:
        raise InvalidInput("this candidate has no latent to learn from")
    engine = casting.request.get("engine", "demo")
    example = CategoryExample(id=new_id("cex"), tenant_id=tenant_id, label=label, engine=engine, fits=fits,
                              latent=chosen["latent"], casting_id=casting_id, candidate=index)
    key = f"tenants/{tenant_id}/categories/{label}/{example.id}.npy"
    ref = await asyncio.to_thread(lambda: store.put(key, store.get_bytes(chosen["latent"]["key"]), NPY))
    example.latent = ref.model_dump()
    async with sessions() as session, session.begin():
        repository.add_example(session, example)
        await session.flush()
        fitting = await repository.example_fits(session, tenant_id, label, engine)
    return example, {"fits": sum(fitting), "does_not_fit": len(fitting) - sum(fitting)}


async def fit_category(reader: async_sessionmaker, sessions: async_sessionmaker, store: ObjectStore,
                       run_step: StepRunner, tenant_id: str, label: str, engine: str,
                       default_strength: float | None) -> Category:
    """The generator's `fit` step on the label's examples (their latents); the direction it saved in the model
    store is kept with the category too (`tenants/<tenant>/categories/<label>/direction-<engine>.npy`).
    InvalidInput for the diffusion engine (its categories are words); NotFound without examples; the step's
    own refusal (too few examples) as `steps.step_error` makes it."""
    from services.generator.contract import DIRECTION, FIT, FITS_INPUT, NOT_FITS_INPUT

    if engine == WORDS_ENGINE:
        raise InvalidInput(f"the diffusion engine's categories are prompt words, not fitted directions: set them with "
                           f"PUT /v1/categories/{label}/words")
    async with reader() as session:
        examples = await repository.examples(session, tenant_id, label, engine)
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
    outcome = await run_step(tenant_id, step, f"category {label!r} cannot be fitted")
    fitted = outcome["report"]
    vector = await asyncio.to_thread(get_verified, store, ObjectRef(**outcome["outputs"][DIRECTION]))
    ref = await asyncio.to_thread(store.put, f"tenants/{tenant_id}/categories/{label}/direction-{engine}.npy",
                                  vector, NPY)
    report = {k: fitted[k] for k in ("fits", "does_not_fit", "training_accuracy", "shrinkage", "fitted_strength",
                                     "weights")}
    category = Category(tenant_id=tenant_id, label=label, engine=engine, direction=ref.model_dump(),
                        default_strength=fitted["default_strength"], report=report, fitted_at=utcnow())
    async with sessions() as session, session.begin():
        await repository.save(session, category)
    return category
