"""The generator behind the worker runtime: a request event in, candidates and latents as objects out."""
from __future__ import annotations

import asyncio
import io
import time

import numpy as np

from services.generator.stage import STAGE
from shared.bus.memory import MemoryBus
from shared.events import JOB_EVENTS_TOPIC, JobEvent, JobEventKind, StageRequest, Step, requests_topic
from shared.images import decode_image
from shared.runtime import NPY, StageWorker
from shared.settings import Settings
from shared.stage import StageContext, StageInputs
from shared.store import job_object_key
from shared.store.local import LocalStore
from tests.generator.conftest import SMALL_NAME

TENANT = "shop-1"


async def _final_event(bus: MemoryBus, job_id: str, timeout_s: float = 30) -> JobEvent:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = [JobEvent.model_validate_json(d.value) for d in bus.messages(JOB_EVENTS_TOPIC)]
        final = [e for e in events if e.job_id == job_id and e.kind != JobEventKind.progress]
        if final:
            return final[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


async def test_a_generator_request_stores_candidates_and_latents(small_store, tmp_path):
    bus, store = MemoryBus(), LocalStore(tmp_path / "objects")
    ctx = StageContext(Settings(data_dir=tmp_path, retry_backoff_s=0.01), small_store)
    worker = StageWorker(STAGE, bus, store, ctx)
    task = asyncio.create_task(worker.run())
    try:
        direct = STAGE.run(STAGE.parse_params({"engine": "stylegan2", "weights": SMALL_NAME, "seeds": [5]}),
                           StageInputs(image=None), ctx)
        buffer = io.BytesIO()
        np.save(buffer, direct.artifacts["latent-0"], allow_pickle=False)
        chosen = store.put(job_object_key(TENANT, "job-1", 0, "chosen", "npy"), buffer.getvalue(), NPY)
        params = {"engine": "stylegan2", "weights": SMALL_NAME, "seeds": [9, 10], "spread": 0.0}
        request = StageRequest(job_id="job-1", tenant_id=TENANT, image=None,
                               steps=[Step(number=1, stage="generator", params=params, inputs={"near-0": chosen})])
        bad = StageRequest(job_id="job-2", tenant_id=TENANT, image=None,
                           steps=[Step(number=1, stage="generator", params={"n": 99})])
        for r in (request, bad):
            await bus.publish(requests_topic("generator"), r.model_dump_json().encode(), key=r.job_id)

        done = await _final_event(bus, "job-1")
        assert done.kind == JobEventKind.completed, done.error
        outputs = done.outcome.outputs
        assert sorted(outputs) == ["candidate-0", "candidate-1", "latent-0", "latent-1"]
        assert outputs["candidate-0"].content_type == "image/png" and outputs["latent-0"].content_type == NPY
        portrait = decode_image(store.get_bytes(outputs["candidate-1"].key)).pixels
        assert portrait.tobytes() == direct.artifacts["candidate-0"].tobytes()  # spread 0: the chosen face again
        latent = np.load(io.BytesIO(store.get_bytes(outputs["latent-1"].key)), allow_pickle=False)
        assert latent.tobytes() == direct.artifacts["latent-0"].tobytes()
        assert done.outcome.report["near"] == ["near-0"]
        assert done.outcome.report["weights_record"]["sha256"] == small_store.records()[SMALL_NAME].sha256

        failed = await _final_event(bus, "job-2")
        assert failed.kind == JobEventKind.failed and failed.error.code == "invalid-input"
        assert "maximum per request is 32" in failed.error.message and not failed.error.retryable
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)
