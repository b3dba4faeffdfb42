"""The swapper on the worker runtime (in-process bus, local store): the source arrives as a step input
object, the result is stored and the job completes; a bad source fails the job with its reason and
no result image is stored; several events are micro-batched through `run_batch`."""
from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np
import pytest

from services.swapper.stage import STAGE, run_batch
from shared.bus.memory import MemoryBus
from shared.events import JOB_EVENTS_TOPIC, JobEvent, JobEventKind, StageRequest, Step, requests_topic
from shared.ids import random_hex
from shared.images import decode_image, encode_image
from shared.runtime import StageWorker
from shared.settings import Settings
from shared.stage import StageContext
from shared.store import job_object_key
from shared.store.local import LocalStore
from shared.weights import ModelStore
from tests.data import load_image, unrelated_face

TENANT = "shop-1"


class Worker:
    def __init__(self, tmp_path, **settings):
        self.bus = MemoryBus()
        self.store = LocalStore(tmp_path / "objects")
        context = StageContext(Settings(data_dir=tmp_path, **settings), ModelStore(root=tmp_path / "models"))
        self.batch_sizes: list[int] = []
        self.worker = StageWorker(dataclasses.replace(STAGE, run_batch=self._counted), self.bus, self.store, context)

    def _counted(self, items, ctx):
        self.batch_sizes.append(len(items))
        return run_batch(items, ctx)

    def put(self, job_id: str, name: str, pixels: np.ndarray):
        return self.store.put(job_object_key(TENANT, job_id, 0, name, "png"), encode_image(pixels, "png"), "image/png")

    async def submit(self, target: np.ndarray, source: np.ndarray) -> str:
        job_id = random_hex(32)
        step = Step(number=1, stage="swapper", params={}, inputs={"source": self.put(job_id, "source", source)})
        request = StageRequest(job_id=job_id, tenant_id=TENANT, image=self.put(job_id, "upload", target), steps=[step])
        await self.bus.publish(requests_topic("swapper"), request.model_dump_json().encode(), key=job_id)
        return job_id

    async def final(self, job_id: str, timeout_s: float = 120) -> JobEvent:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = [JobEvent.model_validate_json(d.value) for d in self.bus.messages(JOB_EVENTS_TOPIC)]
            done = [e for e in events if e.job_id == job_id and e.kind != JobEventKind.progress]
            if done:
                return done[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish")


async def test_jobs_complete_fail_with_reasons_and_are_batched(tmp_path):
    worker = Worker(tmp_path, batch_max=4, batch_wait_ms=200)
    target = load_image("body_w120")
    good = [await worker.submit(target, unrelated_face()) for _ in range(2)]
    bad = await worker.submit(target, load_image("noface_chelsea"))
    task = asyncio.create_task(worker.worker.run())  # all three events wait on the topic: one batch
    try:
        await _check(worker, target, good, bad)
    finally:
        worker.worker.request_stop()
        await asyncio.wait_for(task, 60)
    assert worker.batch_sizes == [3]


async def _check(worker: Worker, target: np.ndarray, good: list[str], bad: str) -> None:
    for job_id in good:
        final = await worker.final(job_id)
        assert final.kind == JobEventKind.completed, final.error
        result = final.outcome.outputs["image"]
        pixels = decode_image(worker.store.get_bytes(result.key)).pixels
        assert pixels.shape == target.shape and not np.array_equal(pixels, target)
        assert final.outcome.report["faces"][0]["engine"] == "classical"
    failed = await worker.final(bad)
    assert failed.kind == JobEventKind.failed
    assert failed.error.code == "no-face-found" and "source portrait" in failed.error.message
    assert not worker.store.exists(job_object_key(TENANT, bad, 1, "swapper", "png"))
