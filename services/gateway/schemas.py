"""Request and response bodies of the public API (they make the OpenAPI document)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scope = Literal["read", "write", "admin"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
WebhookEventType = Literal["job.succeeded", "job.failed", "job.progress", "casting.ready"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- shared pieces ------------------------------------------------------------------------------
class ObjectOut(BaseModel):
    key: str
    content_type: str
    sha256: str
    size: int
    url: str | None = Field(None, description="presigned GET URL; null once the object was deleted")
    url_expires_at: datetime | None = None


class ErrorOut(BaseModel):
    code: str
    message: str
    stage: str | None = None
    details: dict[str, Any] | None = Field(None, description=(
        "what the stage said about the failure, when it said more (`reason`, `role`: `source` for the "
        "virtual model's portrait)"))


class FieldError(BaseModel):
    loc: list[str] = Field(description="the field's path: `[\"options\", \"steps\", \"0\", \"stage\"]`, "
                                       "`[\"query\", \"limit\"]`, `[\"body\"]` for the whole body")
    msg: str
    type: str = Field(description="what is wrong: `missing`, `json_invalid`, `extra_forbidden`, …")


class Problem(BaseModel):
    """Every error answer (`application/problem+json`, RFC 9457)."""
    type: str = Field(description="`https://facecast.dev/problems/<code>`")
    title: str
    status: int
    code: str
    detail: str = Field(description="what happened and what to change, naming the field or image")
    instance: str | None = Field(None, description="the request's path")
    request_id: str | None = Field(None, description="also the `X-Request-Id` header: quote it to support")
    details: dict[str, Any] | None = Field(None, description=(
        "more about the error: `field` (the field or image it is about), `limit`, `reason`, `role`, …"))
    errors: list[FieldError] | None = Field(None, description=(
        "each field at fault, on a 422 about the request's fields (the first ten)"))


class Page(BaseModel):
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last page")


# ---- images and steps ---------------------------------------------------------------------------
class ImageSource(Strict):
    """Exactly one of: an upload from `POST /v1/uploads`, an object key of this tenant, an HTTPS URL (an
    empty string is not a choice: it is refused naming its field)."""
    upload_id: str | None = Field(None, min_length=1, max_length=64)
    key: str | None = Field(None, min_length=1, max_length=512)
    url: str | None = Field(None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(v is not None for v in (self.upload_id, self.key, self.url)) != 1:
            raise ValueError("give exactly one of upload_id, key, url")
        return self


class StepInput(Strict):
    """An extra input of a step: a virtual model (its portrait) or an image."""
    virtual_model_id: str | None = Field(None, min_length=1, max_length=64)
    upload_id: str | None = Field(None, min_length=1, max_length=64)
    key: str | None = Field(None, min_length=1, max_length=512)
    url: str | None = Field(None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(v is not None for v in (self.virtual_model_id, self.upload_id, self.key, self.url)) != 1:
            raise ValueError("give exactly one of virtual_model_id, upload_id, key, url")
        return self


class StepSpec(Strict):
    stage: str = Field(min_length=1, max_length=64, description="swap | enhance | makeup (or swapper, enhancer)")
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, StepInput] = Field(default_factory=dict, description="e.g. makeup's `reference` image")


class JobCreate(Strict):
    """The options of a job. With multipart, send this as the `options` field and the images as `image` files."""
    steps: list[StepSpec] = Field(min_length=1, max_length=8)
    images: list[ImageSource] = Field(default_factory=list, max_length=100)
    virtual_model_id: str | None = Field(None, min_length=1, max_length=64, description="the face for the swap step")
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20, description=(
        "your own labels: at most 20 keys of 1-40 characters, values of at most 500, 4096 bytes in all "
        "(413 beyond); returned on the job and in its webhooks"))


# ---- jobs ---------------------------------------------------------------------------------------
class StepOut(BaseModel):
    number: int
    stage: str
    params: dict[str, Any]
    status: Literal["pending", "running", "succeeded", "failed", "canceled"]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = Field(None, description="the step's own work time (inputs, stage, outputs)")
    wait_ms: float | None = Field(None, description="started_at → finished_at not spent working: a redelivery "
                                                    "after a worker died, retry backoff")
    outputs: dict[str, ObjectOut] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict)


class EngineUse(BaseModel):
    stage: str
    engine: str
    licence: str
    commercial_use: bool
    demo: bool = False
    weights: list[Any] = Field(default_factory=list)
    use_restrictions: dict[str, Any] | None = Field(None, description="the weights' use restrictions (OpenRAIL "
                                                    "licences): licence, link and a short summary")


class WarningOut(BaseModel):
    """Something a stage measured that may make the result unfit to publish (`tone-mismatch`, `soft-face`,
    `face-cut-by-frame`, `alpha-flattened`, …). The job still succeeded; a person should look first."""
    code: str
    message: str
    face: int | None = Field(None, description="index of the face in the stage's report, when about one face")
    stage: str = Field(description="the stage whose report raised it")
    step: int = Field(description="the step number whose report raised it")


class JobOut(BaseModel):
    id: str
    object: Literal["job"] = "job"
    kind: Literal["photo", "casting"]
    batch_id: str | None
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    input: ObjectOut | None
    steps: list[StepOut]
    result: ObjectOut | None
    engines: list[EngineUse]
    error: ErrorOut | None
    warnings: list[WarningOut] = Field(default_factory=list, description=(
        "the warnings of every finished step (a succeeded job may carry some: look before publishing)"))
    metadata: dict[str, str]
    expires_at: datetime = Field(description="when the retention sweeper deletes the job's images")
    purged: bool = Field(description="the job's images were deleted (retention or DELETE)")


class BatchOut(BaseModel):
    batch_id: str
    object: Literal["batch"] = "batch"
    jobs: list[JobOut]


class JobList(Page):
    data: list[JobOut]


# ---- uploads ------------------------------------------------------------------------------------
class UploadCreate(Strict):
    content_type: Literal["image/png", "image/jpeg", "image/webp"]
    filename: str | None = Field(None, max_length=255)


class UploadOut(BaseModel):
    id: str
    key: str
    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]
    expires_at: datetime


# ---- engines ------------------------------------------------------------------------------------
class EngineOut(BaseModel):
    stage: str
    engine: str
    licence: str
    commercial_use: bool
    demo: bool
    weights: list[Any]
    description: str = ""
    available: bool
    unavailable_reason: str | None = None
    imported: list[dict[str, Any]] = Field(default_factory=list, description="the engine's weights as imported "
                                           "into the model store: name, sha256, licence, commercial use, source and "
                                           "use restrictions (OpenRAIL licences: link and short text)")
    commercial_use_as_imported: bool | None = Field(None, description="`commercial_use` by the same rule with the "
                                                    "imported files judged by their own records (None: none imported)")


class EngineList(BaseModel):
    data: list[EngineOut]


# ---- tenants and keys ---------------------------------------------------------------------------
class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    retention_days: int
    rate_limit_per_s: float
    max_active_jobs: int


class TenantUpdate(Strict):
    retention_days: int | None = Field(None, ge=1, le=365)


class ApiKeyCreate(Strict):
    name: str = Field("", max_length=200)
    scopes: list[Scope] = Field(default_factory=lambda: ["read", "write"], min_length=1)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = Field(None, description="the key itself: shown once, at creation")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


# ---- webhooks -----------------------------------------------------------------------------------
class WebhookEndpointCreate(Strict):
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[WebhookEventType] = Field(default_factory=lambda: ["job.succeeded", "job.failed"],
                                                min_length=1)
    description: str = Field("", max_length=500)


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    created_at: datetime
    disabled: bool
    disabled_reason: str | None
    secret: str | None = Field(None, description="`whsec_…`: shown once, at creation or rotation")
    previous_secret_expires_at: datetime | None = None


class WebhookEndpointList(Page):
    data: list[WebhookEndpointOut]


class WebhookAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookDeliveryOut(BaseModel):
    id: str
    message_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[WebhookAttemptOut]


class WebhookDeliveryList(Page):
    data: list[WebhookDeliveryOut]


# ---- castings, virtual models, categories -----------------------------------------------------
class CastingCreate(Strict):
    engine: str = Field("demo", max_length=40, description="`demo` (the default, as on the CLI), `stylegan2` or "
                        "`diffusion` (categories and briefs as prompt words)")
    n: int = Field(4, ge=1, le=64)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="first seed (then seed+1, …); random when absent")
    truncation: float | None = Field(None, ge=0.0, le=1.0)
    category: str | None = Field(None, max_length=100)
    strength: float | None = Field(None, ge=-10.0, le=10.0)
    brief: str | None = Field(None, max_length=500, description='free text such as "fresh, cool, summer"')
    near: list[str] = Field(default_factory=list, max_length=2,
                            description="candidate refs `<casting id>/<index>` or virtual model ids to sample near")
    spread: float | None = Field(None, ge=0.0, le=1.0, description="with `near`: 0 = the same face, 1 = unrelated")
    mix: float | None = Field(None, ge=0.0, le=1.0, description="with two `near` faces: their blend (0 = the first)")
    steps: int | None = Field(None, ge=1, le=150, description="diffusion: denoising steps (default: the pipeline "
                              "family's, e.g. 4 for FLUX.1-schnell, 30 for SDXL)")
    guidance: float | None = Field(None, ge=0.0, le=30.0, description="diffusion: guidance scale (default: the "
                                   "family's)")


class CandidateOut(BaseModel):
    index: int
    image: ObjectOut
    latent: ObjectOut | None = None
    seed: int | None = None
    licence: dict[str, Any] | None = Field(None, description="licence, commercial use, demo flag and use "
                                           "restrictions of the weights that made this face")
    check: dict[str, Any] | None = Field(None, description="the swap-source check it passed (or failed after every "
                                         "replacement; diffusion: also frontal, eyes open, sharp) and how many seeds "
                                         "it replaced")
    prompt: str | None = Field(None, description="diffusion: the full prompt (the negative one is in the step report)")


class CastingOut(BaseModel):
    id: str
    object: Literal["casting"] = "casting"
    status: JobStatus
    job_id: str
    request: dict[str, Any]
    created_at: datetime
    expected: int = Field(description="how many candidates the casting makes in all; `candidates` holds those "
                          "made so far (they appear in chunks while the casting runs)")
    candidates: list[CandidateOut] = Field(description="the candidates made so far, in index order")
    engines: list[EngineUse]
    error: ErrorOut | None


class VirtualModelCreate(Strict):
    casting_id: str = Field(max_length=64)
    candidate: int = Field(ge=0, le=1000)
    name: str = Field(min_length=1, max_length=200)


class ConsentAttestation(Strict):
    """Required for imported portraits: who has which rights to this face."""
    subject_name: str = Field(min_length=1, max_length=200)
    rights_holder: str = Field(min_length=1, max_length=200)
    consent_obtained: Literal[True] = Field(description="the person shown consented to this use")
    commercial_use_permitted: bool
    evidence_reference: str = Field(min_length=1, max_length=500, description="contract or release id")


class VirtualModelImport(Strict):
    name: str = Field(min_length=1, max_length=200)
    image: ImageSource
    consent: ConsentAttestation


class VirtualModelUpdate(Strict):
    name: str = Field(min_length=1, max_length=200)


class VirtualModelOut(BaseModel):
    id: str
    object: Literal["virtual_model"] = "virtual_model"
    name: str
    source: Literal["casting", "import"]
    engine: str | None
    engine_info: dict[str, Any]
    weights_sha256: str | None
    seed: int | None
    casting_id: str | None
    candidate: int | None
    portrait: ObjectOut
    latent: ObjectOut | None
    consent: dict[str, Any] | None
    created_at: datetime


class VirtualModelList(Page):
    data: list[VirtualModelOut]


class CategoryExampleCreate(Strict):
    casting_id: str = Field(max_length=64)
    candidate: int = Field(ge=0, le=1000)
    fits: bool


class CategoryExampleOut(BaseModel):
    id: str
    label: str
    engine: str
    fits: bool
    casting_id: str | None
    candidate: int | None
    created_at: datetime
    counts: dict[str, int] = Field(description="examples of this label so far: fits / does_not_fit")


class CategoryFit(Strict):
    engine: str = Field("demo", max_length=40)
    default_strength: float | None = Field(None, ge=-20.0, le=20.0,
                                           description="the strength used when a casting names no strength; "
                                                       "default: the fitted one")


class CategoryOut(BaseModel):
    label: str
    engine: str
    kind: Literal["direction", "words"] = Field("direction", description="`direction`: fitted from examples "
                                                "(latent engines); `words`: prompt words (the diffusion engine)")
    ready: bool = Field(True, description="a casting can use it now (words: a diffusion pipeline is imported)")
    source: Literal["tenant", "seed"] = Field("tenant", description="`seed`: FaceCast's own words; `tenant`: "
                                              "fitted or edited by this tenant")
    default_strength: float | None = None
    fitted_at: datetime | None = None
    words: dict[str, Any] | None = Field(None, description="`words`: {phrase, negative, labels}")
    report: dict[str, Any] = Field(default_factory=dict)


class CategoryWordsUpdate(Strict):
    phrase: str = Field(min_length=1, max_length=300, description="words added to the prompt, in English for "
                        "CLIP/T5 encoders, e.g. \"old-money elegance, pearl earrings\"")
    negative: str = Field("", max_length=300, description="words added to the negative prompt")
    labels: dict[str, str] = Field(default_factory=dict, description='display labels, e.g. {"ko": "우아한"}')


class CategoryList(BaseModel):
    data: list[CategoryOut]
