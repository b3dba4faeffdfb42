"""Event and routing-slip schemas (pydantic v2).

A job is a routing slip: the ordered steps still to run, each with its parameters and extra inputs.
Each stage consumes `facecast.<stage>.requests`, writes its output object, and forwards the slip to the
next stage's topic; all stages report on `facecast.job-events`. Only object references travel.
"""
from __future__ import annotations

import zlib
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from shared.ids import new_id, random_hex, utcnow

SCHEMA_VERSION = 1
STAGES = ("generator", "swapper", "enhancer", "makeup")
JOB_EVENTS_TOPIC = "facecast.job-events"


def requests_topic(stage: str) -> str:
    return f"facecast.{stage}.requests"


def dlq_topic(stage: str) -> str:
    return f"facecast.{stage}.dlq"


def consumer_group(stage: str) -> str:
    return f"facecast-{stage}"


def request_key(tenant_id: str, job_id: str, spread: int = 1) -> str:
    """The bus key of a stage request: its tenant, so one tenant's backlog stays on its own key(s) (the
    in-process bus serves keys round-robin; Kafka puts a key on one partition) and cannot starve the
    others. `spread` > 1 spreads one tenant over that many keys (more partitions for a big tenant)."""
    if spread <= 1:
        return tenant_id
    return f"{tenant_id}/{zlib.crc32(job_id.encode()) % spread}"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectRef(_Event):
    key: str
    content_type: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    origin: dict[str, Any] | None = Field(
        default=None, description="provenance of a generated input (a virtual model's engine and licence); "
                                  "listed beside the stages' engines in every result that uses it")


class Step(_Event):
    """One step of the slip. `inputs` holds extra objects the stage needs (a source face, a reference).
    `action` names another step kind of the stage (the swapper's `prepare`, the generator's `fit`); a step
    without one is the stage's main step, and is written without the field (as before it existed)."""
    number: int = Field(ge=1, description="1-based position in the job's original slip; names the output key")
    stage: str
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, ObjectRef] = Field(default_factory=dict)
    action: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{0,39}$")

    @model_serializer(mode="wrap")
    def _without_main_action(self, handler):
        data = handler(self)
        if data.get("action", "") is None:
            del data["action"]
        return data


class StepOutcome(_Event):
    number: int
    stage: str
    outputs: dict[str, ObjectRef]
    report: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime
    work_ms: float | None = Field(None, ge=0, description=(
        "the step's own work in the delivery that made these outputs (inputs read, stage run, outputs encoded); "
        "time before it (a killed worker's session timeout, retry backoff, queueing) is not in it"))


class StageRequest(_Event):
    """What travels on `facecast.<stage>.requests`: the job's slip with the working image."""
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(default_factory=lambda: new_id("evt"))
    job_id: str
    tenant_id: str
    trace_id: str = Field(default_factory=lambda: random_hex(32))
    attempt: int = Field(default=1, ge=1)
    image: ObjectRef | None = Field(default=None, description="the image the next step works on; None for the generator")
    steps: list[Step] = Field(min_length=1, description="steps still to run; steps[0] is this stage's")
    history: list[StepOutcome] = Field(default_factory=list)

    @property
    def current(self) -> Step:
        return self.steps[0]


class JobEventKind(str, Enum):
    progress = "progress"  # a stage started or finished a step; the job goes on
    failed = "failed"  # the job stopped with a reason
    completed = "completed"  # the last step finished


class ErrorInfo(_Event):
    code: str
    message: str
    stage: str | None = None
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict, description=(
        "the error's own details (`reason`, `role`, …), so the gateway answers with them as the stage raised them"))


class JobEvent(_Event):
    """What every stage emits on `facecast.job-events`; the gateway folds these into job state."""
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(default_factory=lambda: new_id("evt"))
    job_id: str
    tenant_id: str
    trace_id: str
    kind: JobEventKind
    stage: str
    step: int
    sequence: int = Field(description="orders events of one job: 2*step for a finished step, 2*step-1 for a started one")
    at: datetime = Field(default_factory=utcnow)
    outcome: StepOutcome | None = None
    error: ErrorInfo | None = None
    attempt: int = 1
