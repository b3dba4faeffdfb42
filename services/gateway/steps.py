"""Stage steps the gateway runs for one of its own resources: a virtual model's `prepare` on the swapper at
accept/import, a category's `fit` on the generator.

Work that needs a model runs where the models are, as a stage step like any other: the step travels as
a job of kind `internal` (one row, dispatched through the outbox, folded from `facecast.job-events` by
whichever gateway consumes them, retried and dead-lettered by the stage's runtime). The request that
asked for it waits for the row to finish. Internal jobs are never listed, counted against a tenant's
quota or announced by webhooks; their objects expire with the retention of jobs (what must last is
copied to the resource's own keys).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from services.gateway.db.models import INTERNAL_JOB, Job
from services.gateway.problems import StageUnavailable
from shared.errors import FaceCastError
from shared.events import Step
from shared.ids import new_id, random_hex, utcnow

if TYPE_CHECKING:
    from services.gateway.app import Gateway

def error_classes(root: type[FaceCastError] = FaceCastError) -> dict[str, type[FaceCastError]]:
    """Every error code defined (in shared.errors and the gateway) and its class."""
    found = {root.code: root}
    for sub in root.__subclasses__():
        found.update(error_classes(sub))
    return found


def step_error(error: dict, about: str) -> FaceCastError:
    """A failed internal step's error as the gateway's answer, with its code (so its HTTP status) and details
    kept and the message saying what it was about; a failure the step's input did not cause (a stage error,
    exhausted retries, a time budget) is a 503 naming the stage."""
    code, message = error.get("code", "stage-error"), error.get("message", "the stage failed")
    error_class = error_classes().get(code)
    if (error_class is None or error_class.__module__ != "shared.errors" or error_class.http_status >= 500
            or error_class.__init__ is not FaceCastError.__init__):
        return StageUnavailable(f"{about}: the {error.get('stage') or 'stage'} could not do it ({message})",
                                stage=error.get("stage"), cause=code)
    return error_class(f"{about}: {message}", **(error.get("details") or {}))


async def run_step(gw: "Gateway", tenant_id: str, step: Step, about: str) -> dict:
    """Run one stage step for the tenant and return its outcome (`outputs`, `report`); its failure raised
    as `step_error` says. StageUnavailable when it has not finished within FACECAST_INTERNAL_STEP_TIMEOUT_S
    (no worker of the stage is running, or it is far behind)."""
    now = utcnow()
    job = Job(id=new_id("job"), tenant_id=tenant_id, kind=INTERNAL_JOB, status="queued", created_at=now,
              updated_at=now, trace_id=random_hex(32), steps=[step.model_dump(mode="json")], input=None,
              metadata_={})
    async with gw.sessionmaker() as session, session.begin():
        session.add(job)
    await gw.relay.dispatch([job])
    deadline = time.monotonic() + gw.settings.internal_step_timeout_s
    while True:
        async with gw.reader() as session:
            row = await session.get(Job, job.id, populate_existing=True)
        if row.status == "succeeded":
            return row.step_states[str(step.number)]["outcome"]
        if row.status in ("failed", "canceled"):
            raise step_error(row.error or {"code": "canceled", "message": "canceled"}, about)
        left = deadline - time.monotonic()
        if left <= 0:
            raise StageUnavailable(f"{about}: the {step.stage} did not finish its {step.action or 'main'} step within "
                                   f"{gw.settings.internal_step_timeout_s:g} s (FACECAST_INTERNAL_STEP_TIMEOUT_S); "
                                   f"is a {step.stage} worker running?", stage=step.stage, job_id=job.id)
        await gw.changes.wait(min(0.5, left))
