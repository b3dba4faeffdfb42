"""The generator stage: cast candidate faces (images + latents) for a seller to choose from.

One request asks for N faces from seeds (or N random ones), optionally steered by categories (by
name or through a free-text brief), or sampled near faces chosen earlier (step inputs `near-0`,
`near-1`, … holding their latents), or near a mix of two. Every candidate comes back as the
artifacts `candidate-<i>` (BGR portrait) and `latent-<i>` (float32 latent), and the report names
the engine, its weights hash and licence, and each candidate's seed, so any face can be made again.

A casting may be split into several requests (the gateway makes one step per chunk, so candidates
show as they are made): `first_index` is the casting-wide index of a request's first candidate. It
names the artifacts (`candidate-<first_index + k>`) and picks each candidate's near-face
(`near[(first_index + k) % len(near)]`), so a chunk gives byte for byte the candidates that the
whole casting in one request gives at those indices.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.generator import casting
from services.generator.engines import DCGAN_WEIGHTS, REGISTRY, STYLEGAN2_DEFAULT_WEIGHTS
from services.generator.engines.base import SEED_MAX, CastingEngine
from shared.errors import InvalidInput
from shared.settings import get_settings
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, isolated, one_event
from shared.weights import ModelStore

MAX_NEAR = 8
MAX_STRENGTH = 20.0  # latent units along a unit direction; typical defaults are 1-5
NEAR_INPUT = re.compile(r"^near-(\d+)$")


def max_candidates() -> int:
    """The operator's limit on faces per request (`FACECAST_GENERATOR_MAX_CANDIDATES`)."""
    return get_settings().generator_max_candidates


# the one engine a fresh machine can run; `facecast generate` and the API default to it
DEFAULT_ENGINE = REGISTRY.default


def consecutive_seeds(first: int, n: int) -> list[int]:
    """`n` seeds from `first` on (wrapping), as the API's `seed` + `n` and the CLI's `--seed` + `--n` mean."""
    return [(first + i) % (SEED_MAX + 1) for i in range(n)]


class CategoryWordsParams(BaseModel):
    """A tenant's edited prompt words of a category (diffusion engine)."""
    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(min_length=1, max_length=300)
    negative: str = Field("", max_length=300)
    labels: dict[str, str] | None = None


class GeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: REGISTRY.name_field = Field(DEFAULT_ENGINE, description="`demo` (the default everywhere: "
                                                 "API, CLI, stage) works out of the box; non-commercial, low "
                                                 "quality. `stylegan2` and `diffusion` need imported weights")
    weights: str | None = Field(None, max_length=120, pattern=r"^[\w.-]+$",
                                description="stylegan2: model-store name (default stylegan2-ffhq-config-f); "
                                "diffusion: the pipeline folder's model-store name (default diffusion-pipeline)")
    seeds: list[Annotated[int, Field(ge=0, le=SEED_MAX)]] | None = Field(None, min_length=1)
    n: int | None = Field(None, ge=1, description="how many random faces (their seeds are reported)")
    truncation: float = Field(0.7, ge=0.0, le=1.0, description="ψ: 0 = the average face, 1 = full variety")
    category: str | None = Field(None, pattern=casting.CATEGORY_NAME.pattern)
    strength: float | None = Field(None, ge=-MAX_STRENGTH, le=MAX_STRENGTH,
                                   description="for `category`; default: the category's own strength")
    brief: str | None = Field(None, min_length=1, max_length=500,
                              description="free text; categories are picked by the operator's keywords")
    spread: float = Field(0.3, ge=0.0, le=1.0, description="with near-latents: 0 = the same face, 1 = unrelated")
    mix: float | None = Field(None, ge=0.0, le=1.0, description="blend of the two near-latents (0 = near-0)")
    first_index: int = Field(0, ge=0, description="casting-wide index of this request's first candidate (a casting "
                             "split into chunks): names its artifacts and picks each candidate's near-face")
    steps: int | None = Field(None, ge=1, le=150, description="diffusion: denoising steps (default: the family's, "
                              "e.g. 4 for FLUX.1-schnell, 30 for SDXL)")
    guidance: float | None = Field(None, ge=0.0, le=30.0, description="diffusion: classifier-free guidance scale "
                                   "(default: the family's; 0 for FLUX.1-schnell)")
    refiner: str | None = Field(None, max_length=120, pattern=r"^[\w.-]+$",
                                description="diffusion with an SDXL base: model-store name of an SDXL refiner")
    category_words: CategoryWordsParams | None = Field(None, description="diffusion: the tenant's own words for "
                                                       "`category` (the gateway fills them in)")

    @model_validator(mode="after")
    def _consistent(self) -> "GeneratorParams":
        if (self.seeds is None) == (self.n is None):
            raise ValueError("give either `seeds` (a list) or `n` (how many random faces), not both or neither")
        count = len(self.seeds) if self.seeds is not None else self.n
        limit = max_candidates()
        if count > limit:
            raise ValueError(f"{count} candidates requested; the maximum per request is {limit}")
        if self.first_index + count > limit:
            raise ValueError(f"candidates {self.first_index}-{self.first_index + count - 1} requested; a casting "
                             f"has at most {limit} (indices 0-{limit - 1})")
        if self.strength is not None and self.category is None:
            raise ValueError("`strength` applies to `category`: name the category too")
        diffusion_only = [f for f in ("steps", "guidance", "refiner", "category_words") if getattr(self, f) is not None]
        if diffusion_only and self.engine != "diffusion":
            raise ValueError(f"{', '.join(diffusion_only)} apply to the diffusion engine only")
        return self

    @property
    def count(self) -> int:
        return len(self.seeds) if self.seeds is not None else self.n


@dataclass
class CastingPlan:
    """The latents one request will render, and its report so far."""
    engine: CastingEngine
    latents: np.ndarray
    report: dict


def near_latents(extras: dict, dim: int, engine_name: str) -> list[tuple[str, np.ndarray]]:
    """The `near-<i>` step inputs in index order, each checked to be one latent of this engine."""
    found = []
    for name, value in extras.items():
        match = NEAR_INPUT.match(name)
        if not match:
            raise InvalidInput(f"the generator reads only near-<i> inputs (latents of chosen faces), got {name!r}")
        if not isinstance(value, np.ndarray):
            raise InvalidInput(f"{name} must be a latent (.npy array), not an image")
        vector = value.astype(np.float32).reshape(-1)
        if vector.size != dim:
            raise InvalidInput(f"{name} has {vector.size} values; {engine_name} latents have {dim}")
        if not np.isfinite(vector).all():
            raise InvalidInput(f"{name} contains NaN or infinity")
        found.append((int(match.group(1)), name, vector))
    if len(found) > MAX_NEAR:
        raise InvalidInput(f"at most {MAX_NEAR} near-latents per request, got {len(found)}")
    return [(name, vector) for _, name, vector in sorted(found)]


def steering_requests(params: GeneratorParams, models: ModelStore) -> tuple[list[tuple[str, float | None]], list]:
    """(category, strength) pairs from `category` and `brief`, and the brief's keyword matches."""
    requests: list[tuple[str, float | None]] = []
    if params.category:
        requests.append((params.category, params.strength))
    matches = []
    if params.brief:
        keywords = casting.load_keywords(models)
        matches = casting.parse_brief(params.brief, keywords)
        if not matches:
            raise InvalidInput(f"the brief {params.brief!r} names no known category; keywords exist for "
                               f"{', '.join(sorted(keywords))}")
        requests += [(category, None) for category, _ in matches if category != params.category]
    return requests, [{"category": c, "keyword": k} for c, k in matches]


def plan(params: GeneratorParams, inputs: StageInputs, ctx: StageContext) -> CastingPlan:
    engine: CastingEngine = REGISTRY.load(params.engine, ctx.models, ctx.settings, params.weights)
    anchors = near_latents(inputs.extras, engine.latent_dim, params.engine)
    seeds = params.seeds if params.seeds is not None else [secrets.randbelow(SEED_MAX + 1) for _ in range(params.n)]
    latents = engine.seed_latents(seeds, params.truncation)

    if params.mix is not None:
        if len(anchors) != 2:
            raise InvalidInput(f"`mix` blends two chosen faces: give exactly near-0 and near-1 (got {len(anchors)})")
        (name_a, a), (name_b, b) = anchors
        anchors = [(f"mix({name_a},{name_b},{params.mix:g})", casting.mix_latents(a, b, params.mix))]
    first = params.first_index
    anchor_names: list[str | None] = [None] * len(seeds)
    if anchors:
        center = engine.center()
        for i in range(len(seeds)):
            anchor_names[i], anchor = anchors[(first + i) % len(anchors)]
            latents[i] = casting.sample_near(anchor, latents[i], center, params.spread)

    requests, brief_matches = steering_requests(params, ctx.models)
    applied = []
    if requests:
        library = casting.load_directions(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim)
        offset, applied = library.steering(requests)
        latents = latents + offset[None]

    report = {**engine.describe(), "seeds": seeds, "truncation": params.truncation, "categories": applied,
              "brief": {"text": params.brief, "matched": brief_matches} if params.brief else None,
              "near": [name for name, _ in anchors] if anchors else [], "spread": params.spread if anchors else None,
              "mix": params.mix, "first_index": first,
              "candidates": [{"index": first + i, "artifact": f"candidate-{first + i}", "latent": f"latent-{first + i}",
                              "seed": seed, "anchor": anchor_names[i]} for i, seed in enumerate(seeds)]}
    return CastingPlan(engine=engine, latents=latents.astype(np.float32), report=report)


def run_batch(items: list[tuple[GeneratorParams, StageInputs]], ctx: StageContext) -> list[StageOutput | Exception]:
    """Several requests in one go: requests for the same loaded engine are rendered in one `run_batch`;
    a request that fails (its plan or its engine's pass) gets its exception in its place. Requests for the
    diffusion engine go to `diffusion_casting` (prompts, checked candidates) in the same way."""
    from services.generator import diffusion_casting

    diffusion = [i for i, (params, _) in enumerate(items) if params.engine == "diffusion"]
    made = diffusion_casting.run_batch([items[i] for i in diffusion], ctx) if diffusion else []
    results: list = [None if i in diffusion else isolated(plan, params, inputs, ctx)
                     for i, (params, inputs) in enumerate(items)]
    for i, result in zip(diffusion, made):
        results[i] = result
    plans = {i: p for i, p in enumerate(results) if isinstance(p, CastingPlan)}
    for engine in {id(p.engine): p.engine for p in plans.values()}.values():
        mine = [i for i, p in plans.items() if p.engine is engine]
        rendered = isolated(engine.run_batch, [plans[i].latents for i in mine], ctx)
        for position, i in enumerate(mine):
            results[i] = rendered if isinstance(rendered, Exception) else _output(plans[i], rendered[position])
    return results


def _output(p: CastingPlan, portraits: list[np.ndarray]) -> StageOutput:
    artifacts: dict[str, np.ndarray] = {}
    first = p.report["first_index"]
    for k, (portrait, latent) in enumerate(zip(portraits, p.latents), start=first):
        artifacts[f"candidate-{k}"] = portrait
        artifacts[f"latent-{k}"] = latent
    return StageOutput(image=None, report=p.report, artifacts=artifacts)


run = one_event(run_batch)


def preflight(params: GeneratorParams, near_count: int, models: ModelStore) -> None:
    """The checks the gateway can make before publishing, without loading a network: the weights are
    in the model store, the categories exist for them, and `mix` has its two faces."""
    if near_count > MAX_NEAR:
        raise InvalidInput(f"at most {MAX_NEAR} near-latents per request, got {near_count}")
    if params.mix is not None and near_count != 2:
        raise InvalidInput(f"`mix` blends two chosen faces: give exactly two near-latents (got {near_count})")
    if params.engine == "diffusion":
        from services.generator import diffusion_casting

        return diffusion_casting.preflight(params, near_count, models)
    if params.engine == "demo":
        from services.generator.engines.demo import LATENT_DIM

        if params.weights not in (None, DCGAN_WEIGHTS.name):
            raise InvalidInput(f"the demo engine always uses its packaged weights; got weights={params.weights!r}")
        weights_name, sha256, dim = DCGAN_WEIGHTS.name, DCGAN_WEIGHTS.sha256, LATENT_DIM
    else:
        weights_name = params.weights or STYLEGAN2_DEFAULT_WEIGHTS
        models.require([weights_name])
        sha256, dim = models.records()[weights_name].sha256, None  # the latent size needs the checkpoint
    requests, _ = steering_requests(params, models)
    if requests:
        library = casting.load_directions(models, weights_name, sha256, dim)
        for name, _ in requests:
            library.get(name)


STAGE = StageDefinition(name="generator", params_model=GeneratorParams, run=run, engines=REGISTRY,
                        run_batch=run_batch, extra_inputs=tuple(f"near-{i}" for i in range(MAX_NEAR)))
