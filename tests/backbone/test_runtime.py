"""The stage worker runtime on the in-process bus and a local store: completion, retries and DLQ,
idempotent redelivery, input errors, offset commits, micro-batching, graceful stop, health."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from shared import telemetry
from shared.bus.memory import MemoryBus
from shared.errors import NoFaceFound
from shared.bus import Delivery
from shared.events import (JOB_EVENTS_TOPIC, JobEvent, JobEventKind, ObjectRef, StageRequest, Step, StepOutcome,
                           consumer_group, dlq_topic, requests_topic, utcnow)
from shared.ids import random_hex
from shared.images import decode_image, encode_image
from shared.runtime import OffsetTracker, StageWorker, health_app
from shared.settings import Settings
from shared.stage import StageContext, StageDefinition, StageOutput
from shared.store import cancel_marker_key, job_object_key, sha256_hex
from shared.store.local import LocalStore
from shared.weights import ModelStore
from tests.backbone.stages import BOOM, INVERT, INVERT_AGAIN, NOOP, TEST_ENGINE, NoParams

TENANT = "shop-1"


# ---- stages only these tests use ------------------------------------------------------------------
class Counting:
    def __init__(self):
        self.calls = 0
        self.batches: list[int] = []
        self.fail_batches = False

    def run(self, params, inputs, ctx):
        self.calls += 1
        return StageOutput(image=inputs.image.pixels[:, ::-1].copy(), report={"calls": self.calls})

    def run_batch(self, items, ctx):
        self.batches.append(len(items))
        if self.fail_batches:
            raise RuntimeError("the batched model call failed")
        return [StageOutput(image=inputs.image.pixels[:, ::-1].copy(), report={"batch": len(items)})
                for _, inputs in items]


class GateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wait: bool = False


GATE = threading.Event()


def gated(params, inputs, ctx):
    if params.wait and not GATE.wait(timeout=30):
        raise TimeoutError("the test never opened the gate")
    return StageOutput(image=inputs.image.pixels, report={})


def no_face(params, inputs, ctx):
    raise NoFaceFound("no face in the product photo")


def stage(name: str, run, params=NoParams, run_batch=None) -> StageDefinition:
    return StageDefinition(name=name, params_model=params, run=run, engines=TEST_ENGINE, run_batch=run_batch)


# ---- harness ---------------------------------------------------------------------------------------
class Harness:
    def __init__(self, tmp_path, **overrides):
        self.bus = MemoryBus()
        self.store = LocalStore(tmp_path / "objects")
        self.settings = Settings(data_dir=tmp_path, max_attempts=3, retry_backoff_s=0.01, retry_backoff_max_s=0.05,
                                 **overrides)
        self.models = ModelStore(root=tmp_path / "models")
        self.workers: list[StageWorker] = []
        self.tasks: list[asyncio.Task] = []
        rng = np.random.default_rng(7)
        self.pixels = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)

    def start(self, definition: StageDefinition, **overrides) -> StageWorker:
        settings = self.settings.model_copy(update=overrides)
        worker = StageWorker(definition, self.bus, self.store, StageContext(settings, self.models))
        self.workers.append(worker)
        self.tasks.append(asyncio.create_task(worker.run()))
        return worker

    def put_image(self, job_id: str, data: bytes | None = None) -> ObjectRef:
        data = encode_image(self.pixels, "png") if data is None else data
        return self.store.put(job_object_key(TENANT, job_id, 0, "upload", "png"), data, "image/png")

    def request(self, steps: list[tuple[str, dict]], job_id: str | None = None, image: ObjectRef | None = None):
        job_id = job_id or random_hex(32)
        image = image or self.put_image(job_id)
        return StageRequest(job_id=job_id, tenant_id=TENANT, image=image,
                            steps=[Step(number=i + 1, stage=name, params=params)
                                   for i, (name, params) in enumerate(steps)])

    async def submit(self, steps, **kw) -> StageRequest:
        request = self.request(steps, **kw)
        await self.bus.publish(requests_topic(request.current.stage), request.model_dump_json().encode(),
                               key=request.job_id)
        return request

    def events(self, job_id: str) -> list[JobEvent]:
        events = [JobEvent.model_validate_json(d.value) for d in self.bus.messages(JOB_EVENTS_TOPIC)]
        return [e for e in events if e.job_id == job_id]

    async def wait_for(self, predicate, what: str, timeout_s: float = 15):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if result := predicate():
                return result
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    async def final(self, job_id: str) -> JobEvent:
        def done():
            final = [e for e in self.events(job_id) if e.kind != JobEventKind.progress]
            return final[0] if final else None
        return await self.wait_for(done, f"job {job_id} to finish")

    def committed(self, stage_name: str) -> int:
        return self.bus.committed(consumer_group(stage_name), requests_topic(stage_name))

    async def stop(self):
        for worker in self.workers:
            worker.request_stop()
        results = await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 30)
        for result in results:
            if isinstance(result, BaseException):
                raise result


@pytest.fixture
async def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    GATE.set()
    await h.stop()
    GATE.clear()


# ---- tests -----------------------------------------------------------------------------------------
async def test_two_stage_job_completes_and_reports_every_step(harness):
    harness.start(INVERT)
    harness.start(INVERT_AGAIN)
    request = await harness.submit([("invert", {}), ("invert2", {})])
    final = await harness.final(request.job_id)
    assert final.kind == JobEventKind.completed, final.error
    events = harness.events(request.job_id)
    assert [(e.kind.value, e.stage, e.sequence) for e in events] == [
        ("progress", "invert", 1), ("progress", "invert", 2), ("progress", "invert2", 3), ("completed", "invert2", 4)]
    result = final.outcome.outputs["image"]
    assert result.key == f"tenants/{TENANT}/jobs/{request.job_id}/2-invert2.png"
    data = harness.store.get_bytes(result.key)
    assert sha256_hex(data) == result.sha256
    assert np.array_equal(decode_image(data).pixels, harness.pixels)  # inverted twice
    first = events[1].outcome.outputs["image"]
    assert np.array_equal(decode_image(harness.store.get_bytes(first.key)).pixels, 255 - harness.pixels)
    forwarded = StageRequest.model_validate_json(harness.bus.messages(requests_topic("invert2"))[0].value)
    assert forwarded.image == first and [o.number for o in forwarded.history] == [1]
    assert forwarded.trace_id == request.trace_id
    await harness.wait_for(lambda: harness.committed("invert") == 1 and harness.committed("invert2") == 1, "commits")


async def test_a_stage_that_always_raises_is_dead_lettered_after_max_attempts(harness):
    harness.start(BOOM)
    request = await harness.submit([("boom", {})])
    final = await harness.final(request.job_id)
    assert final.kind == JobEventKind.failed
    assert final.error.message == "the test stage always fails"
    assert final.error.code == "transient" and final.error.stage == "boom" and final.error.retryable
    assert final.attempt == 3
    attempts = [StageRequest.model_validate_json(d.value).attempt for d in harness.bus.messages(requests_topic("boom"))]
    assert attempts == [1, 2, 3]
    dlq = harness.bus.messages(dlq_topic("boom"))
    assert len(dlq) == 1
    assert dlq[0].headers == {"error": "the test stage always fails", "error-code": "transient", "attempts": "3"}
    assert StageRequest.model_validate_json(dlq[0].value).job_id == request.job_id
    await harness.wait_for(lambda: harness.committed("boom") == 3, "every attempt committed")
    assert [e.kind for e in harness.events(request.job_id)].count(JobEventKind.failed) == 1


async def test_duplicate_delivery_gives_one_result_and_one_computation(harness):
    counting = Counting()
    harness.start(stage("count", counting.run))
    request = harness.request([("count", {})])
    body = request.model_dump_json().encode()
    await harness.bus.publish(requests_topic("count"), body, key=request.job_id)
    await harness.bus.publish(requests_topic("count"), body, key=request.job_id)  # redelivered copy
    await harness.wait_for(lambda: harness.committed("count") == 2, "both copies handled")
    assert counting.calls == 1
    prefix = f"tenants/{TENANT}/jobs/{request.job_id}/"
    assert harness.store.list_keys(prefix) == [prefix + "0-upload.png", prefix + "1-count.outcome.json",
                                               prefix + "1-count.png"]
    completed = [e for e in harness.events(request.job_id) if e.kind == JobEventKind.completed]
    assert len(completed) == 2 and completed[0].outcome == completed[1].outcome  # same result, reported again
    started = [e for e in harness.events(request.job_id) if e.sequence == 1]
    assert len(started) == 1


async def test_a_canceled_job_skips_its_remaining_steps(harness):
    counting = Counting()
    harness.start(stage("count", counting.run))
    request = harness.request([("count", {}), ("invert", {})])
    harness.store.put(cancel_marker_key(TENANT, request.job_id), b"", "text/plain")  # the gateway's cancel
    await harness.bus.publish(requests_topic("count"), request.model_dump_json().encode(), key=request.job_id)
    await harness.wait_for(lambda: harness.committed("count") == 1, "the event handled")
    assert counting.calls == 0
    assert harness.events(request.job_id) == [] and harness.bus.messages(requests_topic("invert")) == []
    assert not harness.store.exists(job_object_key(TENANT, request.job_id, 1, "count", "png"))


async def test_an_existing_outcome_is_forwarded_without_recomputing(harness):
    counting = Counting()
    request = harness.request([("count", {}), ("invert", {})])
    out = harness.store.put(job_object_key(TENANT, request.job_id, 1, "count", "png"),
                            encode_image(255 - harness.pixels), "image/png")
    outcome = StepOutcome(number=1, stage="count", outputs={"image": out}, started_at=utcnow(),
                          finished_at=utcnow())
    harness.store.put(job_object_key(TENANT, request.job_id, 1, "count", "outcome.json"),
                      outcome.model_dump_json().encode(), "application/json")
    harness.start(stage("count", counting.run))
    harness.start(INVERT)
    await harness.bus.publish(requests_topic("count"), request.model_dump_json().encode(), key=request.job_id)
    final = await harness.final(request.job_id)
    assert final.kind == JobEventKind.completed and counting.calls == 0
    assert np.array_equal(decode_image(harness.store.get_bytes(final.outcome.outputs["image"].key)).pixels,
                          harness.pixels)


@pytest.mark.parametrize("case", ["bad-params", "no-face", "not-an-image"])
async def test_an_input_error_fails_the_job_at_once(harness, case):
    harness.start(INVERT)
    harness.start(stage("noface", no_face))
    if case == "bad-params":
        request = await harness.submit([("invert", {"sleep_s": "soon"})])
        code, text, topic = "invalid-input", "invalid parameters", "invert"
    elif case == "no-face":
        request = await harness.submit([("noface", {})])
        code, text, topic = "no-face-found", "no face in the product photo", "noface"
    else:
        job = random_hex(32)
        request = await harness.submit([("invert", {})], job_id=job, image=harness.put_image(job, b"hello, world"))
        code, text, topic = "unsupported-image", "not a PNG, JPEG or WebP", "invert"
    final = await harness.final(request.job_id)
    assert final.kind == JobEventKind.failed
    assert final.error.code == code and text in final.error.message and not final.error.retryable
    assert final.attempt == 1
    assert len(harness.bus.messages(requests_topic(topic))) == 1  # no retry
    assert harness.bus.messages(dlq_topic(topic)) == []  # nothing to replay: the input must change
    await harness.wait_for(lambda: harness.committed(topic) == 1, "the event committed")


async def test_an_input_object_that_does_not_match_its_sha256_is_retried_then_dead_lettered(harness):
    harness.start(INVERT)
    request = harness.request([("invert", {})])
    harness.store.put(request.image.key, encode_image(255 - harness.pixels), "image/png")  # changed behind the ref
    await harness.bus.publish(requests_topic("invert"), request.model_dump_json().encode(), key=request.job_id)
    final = await harness.final(request.job_id)
    assert final.kind == JobEventKind.failed and final.error.code == "object-integrity"
    assert final.attempt == 3 and len(harness.bus.messages(dlq_topic("invert"))) == 1


async def test_an_unreadable_event_is_dead_lettered_and_the_worker_goes_on(harness):
    harness.start(INVERT)
    await harness.bus.publish(requests_topic("invert"), b"{not json", key="x")
    wrong = harness.request([("invert2", {})])  # valid, but for another stage
    await harness.bus.publish(requests_topic("invert"), wrong.model_dump_json().encode(), key=wrong.job_id)
    request = await harness.submit([("invert", {})])
    assert (await harness.final(request.job_id)).kind == JobEventKind.completed
    dlq = harness.bus.messages(dlq_topic("invert"))
    assert [d.headers["error-code"] for d in dlq] == ["unreadable-event", "unreadable-event"]
    assert dlq[0].value == b"{not json" and "arrived at 'invert'" in dlq[1].headers["error"]


def test_offset_tracker_commits_only_below_the_lowest_event_in_flight():
    tracker = OffsetTracker()
    d = [Delivery(topic="t", partition=0, offset=o, value=b"") for o in range(4)]
    other = Delivery(topic="t", partition=1, offset=0, value=b"")
    for x in [*d, other]:
        tracker.started(x)
    assert tracker.finished(d[2]) is None  # 0 and 1 still in flight
    assert tracker.finished(other) == 1  # partitions are independent
    assert tracker.finished(d[1]) is None
    assert tracker.finished(d[0]) == 3  # 0, 1, 2 done; 3 in flight
    assert tracker.finished(d[3]) == 4
    tracker.started(d[1])  # a redelivered copy of a committed event
    assert tracker.finished(d[1]) is None  # never commits backwards


async def test_out_of_order_completion_commits_only_past_finished_events(harness):
    harness.start(stage("gate", gated, params=GateParams), worker_concurrency=2)
    slow = await harness.submit([("gate", {"wait": True})])
    fast = await harness.submit([("gate", {"wait": False})])
    assert (await harness.final(fast.job_id)).kind == JobEventKind.completed
    assert harness.committed("gate") == 0  # offset 1 is done, offset 0 is not
    assert not [e for e in harness.events(slow.job_id) if e.kind != JobEventKind.progress]
    GATE.set()
    assert (await harness.final(slow.job_id)).kind == JobEventKind.completed
    await harness.wait_for(lambda: harness.committed("gate") == 2, "both offsets committed")


async def test_micro_batching_makes_one_model_call_for_several_events(harness):
    counting = Counting()
    jobs = [await harness.submit([("batched", {})]) for _ in range(4)]  # queued before the worker starts
    before = telemetry.BATCH_SIZE.labels("batched")._sum.get()
    harness.start(stage("batched", counting.run, run_batch=counting.run_batch), batch_max=4, batch_wait_ms=200)
    for job in jobs:
        final = await harness.final(job.job_id)
        assert final.kind == JobEventKind.completed and final.outcome.report == {"batch": 4}
        out = decode_image(harness.store.get_bytes(final.outcome.outputs["image"].key)).pixels
        assert np.array_equal(out, harness.pixels[:, ::-1])
    assert counting.batches == [4] and counting.calls == 0
    assert telemetry.BATCH_SIZE.labels("batched")._sum.get() - before == 4


async def test_a_failed_batch_falls_back_to_one_call_per_event(harness):
    counting = Counting()
    counting.fail_batches = True
    jobs = [await harness.submit([("batched2", {})]) for _ in range(3)]
    harness.start(stage("batched2", counting.run, run_batch=counting.run_batch), batch_max=3, batch_wait_ms=200)
    for job in jobs:
        assert (await harness.final(job.job_id)).kind == JobEventKind.completed
    assert counting.batches == [3] and counting.calls == 3


async def test_stop_finishes_the_event_in_flight_and_takes_no_new_one(harness):
    worker = harness.start(stage("gate2", gated, params=GateParams))
    in_flight = await harness.submit([("gate2", {"wait": True})])
    await harness.wait_for(lambda: harness.events(in_flight.job_id), "the event to start")
    worker.request_stop()
    late = await harness.submit([("gate2", {"wait": False})])
    GATE.set()
    await asyncio.wait_for(harness.tasks[-1], 10)
    assert (await harness.final(in_flight.job_id)).kind == JobEventKind.completed
    assert harness.committed("gate2") == 1
    assert harness.events(late.job_id) == []  # left on the bus for the next worker


async def test_a_bus_failure_stops_the_worker_without_committing(tmp_path):
    h = Harness(tmp_path)

    class BrokenBus(MemoryBus):
        async def publish(self, topic, value, key=None, headers=None):
            if topic == JOB_EVENTS_TOPIC:
                raise ConnectionError("broker went away")
            await super().publish(topic, value, key, headers)

    h.bus = BrokenBus()
    h.start(NOOP)
    await h.submit([("noop", {})])
    with pytest.raises(RuntimeError, match="broker went away"):
        await asyncio.wait_for(h.tasks[0], 10)
    assert h.committed("noop") == 0  # replayed by the next worker


async def test_health_readiness_and_metrics_endpoints(harness):
    import httpx

    worker = StageWorker(NOOP, harness.bus, harness.store, StageContext(harness.settings, harness.models))
    transport = httpx.ASGITransport(app=health_app([worker]))
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 503
        harness.workers.append(worker)
        harness.tasks.append(asyncio.create_task(worker.run()))
        await harness.wait_for(lambda: worker.ready, "the worker to subscribe")
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "stages": ["noop"]}
        request = await harness.submit([("noop", {})])
        await harness.final(request.job_id)
        metrics = (await client.get("/metrics")).text
        for name in ("facecast_events_consumed_total", "facecast_events_produced_total", "facecast_in_flight_events",
                     "facecast_stage_latency_seconds", "facecast_hop_latency_seconds", "facecast_batch_size"):
            assert name in metrics
        assert 'facecast_events_consumed_total{stage="noop"}' in metrics


async def test_an_outcome_record_whose_output_is_missing_or_different_does_not_count(harness):
    counting = Counting()
    harness.start(stage("count", counting.run))
    for damage in ("missing", "different"):
        request = harness.request([("count", {})])
        key = job_object_key(TENANT, request.job_id, 1, "count", "png")
        promised = encode_image(255 - harness.pixels)
        out = ObjectRef(key=key, content_type="image/png", sha256=sha256_hex(promised), size=len(promised))
        if damage == "different":
            harness.store.put(key, encode_image(harness.pixels), "image/png")
        record = StepOutcome(number=1, stage="count", outputs={"image": out}, started_at=utcnow(), finished_at=utcnow())
        harness.store.put(job_object_key(TENANT, request.job_id, 1, "count", "outcome.json"),
                          record.model_dump_json().encode(), "application/json")  # a crash left only this
        await harness.bus.publish(requests_topic("count"), request.model_dump_json().encode(), key=request.job_id)
        final = await harness.final(request.job_id)
        assert final.kind == JobEventKind.completed
        data = harness.store.get_bytes(final.outcome.outputs["image"].key)
        assert np.array_equal(decode_image(data).pixels, harness.pixels[:, ::-1])  # recomputed
    assert counting.calls == 2


def test_a_worker_refuses_to_start_on_weights_that_do_not_match_their_manifest(tmp_path):
    from shared.errors import WeightsMismatch
    from shared.runtime import check_weights_at_start
    from shared.engines import EngineInfo, WeightFile

    weights = tmp_path / "w.pt"
    weights.write_bytes(b"published weights")
    models = ModelStore(root=tmp_path / "models")
    models.import_file("net-a", weights, licence="MIT", commercial_use=True, source="test")
    engines = {"a": EngineInfo(name="a", stage="t", title="a", code_licence="MIT", licence="MIT",
                               weight_files=(WeightFile("net-a", "MIT"), WeightFile("packaged", "MIT")))}
    definition = stage("t", lambda p, i, c: None)
    definition = StageDefinition(name="t", params_model=definition.params_model, run=definition.run, engines=engines)
    assert check_weights_at_start(definition, models) == ["net-a"]
    (tmp_path / "models" / models.records()["net-a"].file).write_bytes(b"tampered")
    with pytest.raises(WeightsMismatch, match="net-a"):
        check_weights_at_start(definition, models)
