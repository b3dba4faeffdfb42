"""The generator's contract: what a casting step may say, and the checks the gateway makes before publishing
one, torch-free (the gateway's view of the generator).

The main step casts candidates (services.generator.stage explains the params). The `fit` step teaches a
category by example: inputs `fits-<i>` and `does-not-fit-<i>` (latents of candidates a seller marked), params
`FitParams`; it saves the fitted direction in the model store under `name` for the engine's weights and
outputs it as the artifact `direction`, with the report {fits, does_not_fit, training_accuracy, shrinkage,
fitted_strength, default_strength, weights}.
"""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.generator import casting, prompts
from services.generator.engines import (DCGAN_LATENT_DIM, DCGAN_WEIGHTS, DIFFUSION_WEIGHTS, REGISTRY,
                                        STYLEGAN2_DEFAULT_WEIGHTS)
from shared.errors import EngineUnavailable, InvalidInput
from shared.settings import get_settings
from shared.stage import StageContract
from shared.weights import ModelStore

SEED_MAX = 2 ** 32 - 1
FIT = "fit"  # the step that teaches a category by example
FITS_INPUT, NOT_FITS_INPUT = "fits", "does-not-fit"  # input names `fits-<i>`, `does-not-fit-<i>`
DIRECTION = "direction"  # the fit step's artifact

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


def preflight(params: GeneratorParams, near_count: int, models: ModelStore) -> None:
    """The checks the gateway can make before publishing, without loading a network: the weights are
    in the model store, the categories exist for them, and `mix` has its two faces."""
    if near_count > MAX_NEAR:
        raise InvalidInput(f"at most {MAX_NEAR} near-latents per request, got {near_count}")
    if params.mix is not None and near_count != 2:
        raise InvalidInput(f"`mix` blends two chosen faces: give exactly two near-latents (got {near_count})")
    if params.engine == "diffusion":
        return diffusion_preflight(params, near_count, models)
    if params.engine == "demo":
        if params.weights not in (None, DCGAN_WEIGHTS.name):
            raise InvalidInput(f"the demo engine always uses its packaged weights; got weights={params.weights!r}")
        weights_name, sha256, dim = DCGAN_WEIGHTS.name, DCGAN_WEIGHTS.sha256, DCGAN_LATENT_DIM
    else:
        weights_name = params.weights or STYLEGAN2_DEFAULT_WEIGHTS
        models.require([weights_name])
        sha256, dim = models.records()[weights_name].sha256, None  # the latent size needs the checkpoint
    requests, _ = steering_requests(params, models)
    if requests:
        library = casting.load_directions(models, weights_name, sha256, dim)
        for name, _ in requests:
            library.get(name)


# ---- the diffusion engine: its words and its weights ----------------------------------------------------
def diffusion_import_hint(name: str = DIFFUSION_WEIGHTS) -> str:
    """What to run to give the engine its weights (every message about missing weights repeats it)."""
    return (f"import a diffusers pipeline folder (or a .tar/.zip of one) as {name!r}, e.g. "
            f"`facecast models import {name} ./FLUX.1-schnell --licence Apache-2.0 --commercial-use yes "
            f"--source https://huggingface.co/black-forest-labs/FLUX.1-schnell`, or "
            f"`… ./stable-diffusion-xl-base-1.0 --licence CreativeML-OpenRAIL++-M --commercial-use yes --source "
            f"https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0` (SD 1.5: CreativeML-OpenRAIL-M); "
            f"the folder must hold model_index.json and safetensors weights")


def tenant_words(params) -> prompts.CategoryWords | None:
    """The tenant's own edited words for `category`, carried in the params by the gateway."""
    words = params.category_words
    if words is None:
        return None
    return prompts.CategoryWords(name=params.category, phrase=prompts.check_phrase(words.phrase, "phrase"),
                                 negative=prompts.check_phrase(words.negative, "negative phrase"),
                                 labels=dict(words.labels or {}), source="tenant's own words")


def build_prompt(params, models: ModelStore, reads_korean: bool, uses_negative: bool = True) -> prompts.Prompt:
    return prompts.assemble(prompts.load_word_book(), category=params.category, category_words=tenant_words(params),
                            brief=params.brief, keywords=casting.load_keywords(models), reads_korean=reads_korean,
                            uses_negative=uses_negative)


def check_diffusion_params(params) -> None:
    """What the diffusion engine refuses of the shared generator params."""
    if params.strength is not None:
        raise InvalidInput("`strength` moves along a taught latent direction; the diffusion engine's categories "
                           "are words (edit them with PUT /v1/categories/{label}/words)")
    if params.category_words is not None and params.category is None:
        raise InvalidInput("`category_words` are the words of `category`: name the category too")


def diffusion_preflight(params, near_count: int, models: ModelStore) -> None:
    """The checks the gateway can make before publishing a diffusion casting, without loading a pipeline: the
    pipeline folder is in the model store, the category is known (or the tenant's words given), the brief
    reads."""
    check_diffusion_params(params)
    if params.mix is not None and near_count != 2:
        raise InvalidInput(f"`mix` blends two chosen faces: give exactly two near-latents (got {near_count})")
    for name in (params.weights or DIFFUSION_WEIGHTS, params.refiner):
        if name is not None and (reason := models.unavailable(name)) is not None:
            raise EngineUnavailable(f"{reason}; {diffusion_import_hint(name)}", missing=[name])
    build_prompt(params, models, reads_korean=False)


class FitParams(BaseModel):
    """The fit step: the category's model-store name (a tenant's own is prefixed, see the gateway), the engine
    whose latents the examples are, and the strength casts use by default (None: the fitted one)."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[\w-]{1,80}$")
    engine: REGISTRY.name_field = Field(DEFAULT_ENGINE)
    default_strength: float | None = Field(None, ge=-MAX_STRENGTH, le=MAX_STRENGTH)
    source: str = Field("", max_length=200, description="where the examples came from (recorded with the direction)")


CONTRACT = StageContract(name="generator", params_model=GeneratorParams, engines=REGISTRY,
                         extra_inputs=tuple(f"near-{i}" for i in range(MAX_NEAR)), actions={FIT: FitParams})
