"""A step redelivered after its worker died reports its own work time apart from the time it waited
(the dead worker's session timeout, the group's rejoin), so latency figures are not skewed by outages."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from shared.events import JobEvent, JobEventKind, StepOutcome
from shared.ids import utcnow
from tests.backbone.test_runtime import Harness as WorkerHarness
from tests.backbone.stages import INVERT
from tests.gateway.conftest import png_bytes


async def test_a_redelivered_step_reports_its_own_work_and_its_wait_apart(make_harness):
    harness = await make_harness(stages=[])  # no workers: the test plays the stage's events
    api = await harness.tenant()
    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                              files=[("image", ("p.png", png_bytes(), "image/png"))])
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    first_start = utcnow() - timedelta(seconds=21)
    event = dict(job_id=job_id, tenant_id=api.tenant_id, trace_id="t" * 32, stage="invert", step=1)
    # the first worker starts the step and is killed; 20.75 s later another one does it in 250 ms
    await harness.gw.events.apply(JobEvent(**event, kind=JobEventKind.progress, sequence=1, at=first_start))
    finished = first_start + timedelta(seconds=21)
    outcome = StepOutcome(number=1, stage="invert", outputs={}, started_at=first_start, finished_at=finished,
                          work_ms=250.0)
    await harness.gw.events.apply(JobEvent(**event, kind=JobEventKind.progress, sequence=1,
                                           at=finished - timedelta(milliseconds=250), attempt=1))
    await harness.gw.events.apply(JobEvent(**event, kind=JobEventKind.completed, sequence=2, outcome=outcome))
    step = (await api.get(f"/v1/jobs/{job_id}")).json()["steps"][0]
    assert step["status"] == "succeeded"
    assert step["duration_ms"] == 250.0
    assert step["wait_ms"] == 20_750.0


async def test_the_worker_measures_the_step_it_ran(tmp_path):
    """work_ms covers the stage function (here a 300 ms sleep) and the store I/O around it, not the queue."""
    worker = WorkerHarness(tmp_path)
    worker.start(INVERT)
    try:
        request = await worker.submit([("invert", {"sleep_s": 0.3})])
        final = await worker.final(request.job_id)
    finally:
        for w in worker.workers:
            w.request_stop()
        await asyncio.gather(*worker.tasks)
    assert final.kind == JobEventKind.completed
    assert 300 <= final.outcome.work_ms < 3000
