"""The stage worker: consume → fetch inputs → run the stage's pure function → put outputs → forward.

Guarantees (at-least-once bus, idempotent stage):
- output keys are deterministic; the step's outcome record (`…/<step>-<stage>.outcome.json`) lists
  every output with its sha256, so a redelivered event whose outcome and outputs all exist is
  forwarded without recomputing (the record and the outputs are written concurrently: a record whose
  outputs are missing or different does not count, and the step runs again);
- an offset is committed only after the outputs and the next event are durable, and only up to the
  lowest event still in flight (events of one partition may finish out of order);
- a failure the input causes (no face, bad parameter) fails the job at once; any other failure is
  retried with exponential backoff up to `max_attempts`, then dead-lettered to `facecast.<stage>.dlq`
  and the job is failed with the stage's error text. Nothing is dropped silently.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pydantic import ValidationError

from shared import telemetry
from shared.budget import TimeBudgetExceeded, budget_message, time_budget
from shared.bus import Bus, Delivery
from shared.errors import FaceCastError, InvalidInput, NotFound
from shared.events import (JOB_EVENTS_TOPIC, ErrorInfo, JobEvent, JobEventKind, ObjectRef, StageRequest,
                           StepOutcome, consumer_group, dlq_topic, request_key, requests_topic)
from shared.ids import utcnow
from shared.images import CONTENT_TYPES, EXTENSIONS, DecodedImage, decode_image, encode_image, output_alpha
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput
from shared.store import ObjectStore, cancel_marker_key, get_verified, job_object_key, sha256_hex

logger = logging.getLogger("facecast.runtime")
NPY = "application/x-npy"
NPZ = "application/x-npz"  # several named arrays in one object (a virtual model's prepared source)
BUDGET_GRACE_S = 1.0  # past the budget, time for the stage's own checkpoint to answer before the runtime does
_IO_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="facecast-store")


def outcome_key(request: StageRequest, stage: str) -> str:
    return job_object_key(request.tenant_id, request.job_id, request.current.number, stage, "outcome.json")


class OffsetTracker:
    """Commits only past events that are finished, whatever order they finish in.

    Per partition: `started` offsets are pending; `finished` moves one to done and returns the next
    offset to commit (one past the highest done offset below the lowest pending one), or None.
    Commits never go backwards: a redelivered copy of an already committed offset commits nothing.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._done: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._committed: dict[tuple[str, int], int] = {}

    def started(self, d: Delivery) -> None:
        self._pending[(d.topic, d.partition)].add(d.offset)

    def finished(self, d: Delivery) -> int | None:
        """Mark done; return the next offset to commit for the partition, or None if blocked."""
        tp = (d.topic, d.partition)
        self._pending[tp].discard(d.offset)
        if d.offset < self._committed.get(tp, 0):
            return None
        self._done[tp].add(d.offset)
        floor = min(self._pending[tp]) if self._pending[tp] else None
        committable = [o for o in self._done[tp] if floor is None or o < floor]
        if not committable:
            return None
        top = max(committable)
        self._done[tp] = {o for o in self._done[tp] if o > top}
        self._committed[tp] = top + 1
        return top + 1


class StageWorker:
    def __init__(self, stage: StageDefinition, bus: Bus, store: ObjectStore, ctx: StageContext) -> None:
        self.stage = stage
        self.bus = bus
        self.store = store
        self.ctx = ctx
        self.settings = ctx.settings
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, self.settings.worker_concurrency))
        self._offsets = OffsetTracker()
        self._tasks: set[asyncio.Task] = set()
        self._fatal: BaseException | None = None
        self.ready = False
        self.waiting_for = "start"  # what /readyz says the worker waits for while it is not ready

    # ---- lifecycle -------------------------------------------------------------------------
    def request_stop(self) -> None:
        """SIGTERM: take no new events, finish those in flight (their offsets then commit)."""
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self) -> None:
        group = consumer_group(self.stage.name)
        self.waiting_for = (f"joining consumer group {group} on {requests_topic(self.stage.name)}: partitions are "
                            f"assigned after a rebalance, which waits up to the session timeout for a member "
                            f"that left without saying so")
        started = time.perf_counter()
        consumer = await self.bus.subscribe([requests_topic(self.stage.name)], group)
        self.ready, self.waiting_for = True, None
        logger.info(f"stage {self.stage.name}: ready", extra=telemetry.log_fields(
            stage=self.stage.name, group=group, join_s=round(time.perf_counter() - started, 2)))
        batch_max = max(1, self.settings.batch_max)
        try:
            while not self._stopping.is_set():
                deliveries = await consumer.getmany(batch_max, timeout_ms=200)
                if not deliveries:
                    continue
                if batch_max > 1 and len(deliveries) < batch_max and self.settings.batch_wait_ms > 0:
                    more = await consumer.getmany(batch_max - len(deliveries), timeout_ms=self.settings.batch_wait_ms)
                    deliveries.extend(more)
                await self._slots.acquire()
                if self._stopping.is_set():  # stopped while waiting: leave these uncommitted for the next owner
                    self._slots.release()
                    break
                for d in deliveries:
                    self._offsets.started(d)
                task = asyncio.create_task(self._process_batch(deliveries, consumer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.ready, self.waiting_for = False, "stopping: finishing the events in flight"
            await consumer.close()
        if self._fatal is not None:  # exit non-zero so a supervisor restarts the worker
            raise RuntimeError(f"stage worker {self.stage.name} stopped: {self._fatal}") from self._fatal

    async def _process_batch(self, deliveries: list[Delivery], consumer) -> None:
        try:
            telemetry.IN_FLIGHT.labels(self.stage.name).inc(len(deliveries))
            await self.handle_batch(deliveries)
            for d in deliveries:
                next_offset = self._offsets.finished(d)
                if next_offset is not None:
                    await consumer.commit(d.topic, d.partition, next_offset)
        except Exception as exc:  # the bus itself failed: do not commit; the event will be redelivered
            logger.exception("event handling failed before its effects were durable; it will be redelivered")
            self._fatal = self._fatal or exc
            self._stopping.set()
        finally:
            telemetry.IN_FLIGHT.labels(self.stage.name).dec(len(deliveries))
            self._slots.release()

    # ---- one batch of events ------------------------------------------------------------------
    async def handle_batch(self, deliveries: list[Delivery]) -> None:
        telemetry.EVENTS_CONSUMED.labels(self.stage.name).inc(len(deliveries))
        todo: list[tuple[Delivery, StageRequest, object, StageInputs, float]] = []
        started_events: list[asyncio.Task] = []
        for d in deliveries:
            started = time.perf_counter()
            request = await self._parse(d)
            if request is None:
                continue
            telemetry.trace_id_var.set(request.trace_id)
            # the cancel and redelivery checks and the input reads go to the store together
            canceled, existing, prepared = await asyncio.gather(
                asyncio.to_thread(self.store.exists, cancel_marker_key(request.tenant_id, request.job_id)),
                asyncio.to_thread(self._existing_outcome, request), asyncio.to_thread(self._prepare, request),
                return_exceptions=True)
            if canceled is True:
                telemetry.CANCELED_SKIPPED.labels(self.stage.name).inc()
                logger.info("job canceled; step skipped", extra=self._log_fields(request))
                continue
            if isinstance(existing, BaseException):  # the store failed: an attempt like any other
                existing, prepared = None, existing
            if existing is not None:
                telemetry.REDELIVERED_SKIPPED.labels(self.stage.name).inc()
                await self._forward(request, existing)
                logger.info("step already done by an earlier delivery; forwarded", extra=self._log_fields(request))
                continue
            if isinstance(prepared, BaseException):
                await self._emit(request, JobEventKind.progress, sequence=2 * request.current.number - 1)
                await self._failed_attempt(d, request, prepared)
                continue
            # "started" goes out while the stage runs; it is durable before anything after it is published
            started_events.append(asyncio.create_task(
                self._emit(request, JobEventKind.progress, sequence=2 * request.current.number - 1)))
            params, inputs = prepared
            todo.append((d, request, params, inputs, started))
        if not todo:
            return
        telemetry.BATCH_SIZE.labels(self.stage.name).observe(len(todo))
        # the stage's main steps run as one batch; each other step kind (an action) as its own
        kinds: dict[str | None, list[int]] = {}
        for index, (_, request, _, _, _) in enumerate(todo):
            kinds.setdefault(request.current.action, []).append(index)
        results: list[StageOutput | Exception] = [None] * len(todo)  # type: ignore[list-item]
        stragglers = []
        try:
            for action, indices in kinds.items():
                found, straggler = await self._run_within_budget([todo[i][2:4] for i in indices], action)
                for i, result in zip(indices, found):
                    results[i] = result
                if straggler is not None:
                    stragglers.append(straggler)
        finally:
            await asyncio.gather(*started_events)
        for (d, request, _, inputs, started), result in zip(todo, results):
            if isinstance(result, Exception):
                await self._failed_attempt(d, request, result)
                continue
            try:
                outcome = await asyncio.to_thread(self._store_outputs, request, inputs, result, started)
            except Exception as exc:
                await self._failed_attempt(d, request, exc)
                continue
            await self._forward(request, outcome)
            telemetry.HOP_LATENCY.labels(self.stage.name).observe(time.perf_counter() - started)
            logger.info("step done", extra=self._log_fields(request, work_ms=outcome.work_ms,
                                                            outputs=sorted(outcome.outputs)))
        if stragglers:  # failed past its budget but still running: keep the slot until they end
            await asyncio.gather(*stragglers, return_exceptions=True)

    def _log_fields(self, request: StageRequest, **more) -> dict:
        """What an operator follows an event by: its job, trace, stage, step and attempt (explicit, as a
        batch holds several events and the trace id context variable names only the last)."""
        return telemetry.log_fields(job_id=request.job_id, trace_id=request.trace_id, tenant_id=request.tenant_id,
                                    stage=self.stage.name, step=request.current.number, attempt=request.attempt,
                                    **more)

    def _prepare(self, request: StageRequest) -> tuple[object, StageInputs]:
        return self.stage.parse_params(request.current.params, request.current.action), self._fetch_inputs(request)

    def budget_s(self) -> float:
        return self.settings.stage_time_budgets_s.get(self.stage.name, self.settings.stage_time_budget_s)

    def _run_all(self, items: list[tuple[object, StageInputs]], action: str | None = None
                 ) -> list[StageOutput | Exception]:
        """One model call for the batch when the stage can; on failure, isolate the culprit. Each event
        runs under the stage's time budget (a batch: the budget times its size); an event that ran past
        it fails with time-budget-exceeded even when it did not check its budget itself."""
        engine = lambda p: getattr(p, "engine", "default")  # noqa: E731
        budget = self.budget_s()
        if action is None and self.stage.run_batch is not None and len(items) > 1:
            started = time.perf_counter()
            try:
                with time_budget(budget * len(items), self.stage.name):
                    outputs = self.stage.run_batch(items, self.ctx)
                elapsed = time.perf_counter() - started
                for params, _ in items:
                    telemetry.STAGE_LATENCY.labels(self.stage.name, engine(params)).observe(elapsed / len(items))
                if elapsed > budget * len(items):
                    return [TimeBudgetExceeded(budget_message(self.stage.name, budget), budget_s=budget)] * len(items)
                return list(outputs)
            except TimeBudgetExceeded as exc:  # one by one would cost as much again
                return [exc] * len(items)
            except Exception:
                logger.warning("batched call failed; retrying the events one by one", exc_info=True)
        results: list[StageOutput | Exception] = []
        for params, inputs in items:
            started = time.perf_counter()
            try:
                with time_budget(budget, self.stage.name):
                    results.append(self.stage.runner(action)(params, inputs, self.ctx))
            except Exception as exc:  # reported per event below
                results.append(exc)
            elapsed = time.perf_counter() - started
            if elapsed > budget and not isinstance(results[-1], Exception):
                results[-1] = TimeBudgetExceeded(budget_message(self.stage.name, budget), budget_s=budget)
            telemetry.STAGE_LATENCY.labels(self.stage.name, engine(params)).observe(elapsed)
        return results

    async def _run_within_budget(self, items: list[tuple[object, StageInputs]], action: str | None = None
                                 ) -> tuple[list[StageOutput | Exception], asyncio.Future | None]:
        """`_run_all` in a thread. A stage that neither returns nor checks its budget is failed here once
        budget + BUDGET_GRACE_S has passed, so the job's state says so at once; the thread cannot be
        stopped: it is returned, and the caller keeps this worker's slot until it is done (no work piles
        up behind the budget's back)."""
        budget = self.budget_s()
        running = asyncio.ensure_future(asyncio.to_thread(self._run_all, items, action))
        try:
            return await asyncio.wait_for(asyncio.shield(running), budget * len(items) + BUDGET_GRACE_S), None
        except TimeoutError:
            return [TimeBudgetExceeded(budget_message(self.stage.name, budget), budget_s=budget)] * len(items), running

    async def _parse(self, d: Delivery) -> StageRequest | None:
        try:
            request = StageRequest.model_validate_json(d.value)
            if request.current.stage != self.stage.name:
                raise InvalidInput(f"event for stage {request.current.stage!r} arrived at {self.stage.name!r}")
            return request
        except (ValidationError, InvalidInput) as exc:
            # Unreadable: no job to fail; keep it for inspection instead of dropping it.
            logger.error("unreadable event dead-lettered", extra=telemetry.log_fields(error=str(exc)[:500]))
            await self.bus.publish(dlq_topic(self.stage.name), d.value, key=d.key,
                                   headers={**d.headers, "error": str(exc)[:1000], "error-code": "unreadable-event"})
            telemetry.EVENTS_DEAD_LETTERED.labels(self.stage.name).inc()
            return None

    # ---- object store I/O -----------------------------------------------------------------------
    def _existing_outcome(self, request: StageRequest) -> StepOutcome | None:
        """The step's outcome record when a previous delivery finished the step, else None.

        The record and the outputs are written concurrently, so the record only counts when every
        output it lists is present with the sha256 and size it promises."""
        key = outcome_key(request, self.stage.name)
        try:
            outcome = StepOutcome.model_validate_json(self.store.get_bytes(key))
        except NotFound:
            return None
        except ValidationError:
            logger.warning("unreadable outcome record; recomputing the step", extra=telemetry.log_fields(key=key))
            return None
        for ref in outcome.outputs.values():
            found = self.store.head(ref.key)
            if found is None or found.sha256 != ref.sha256 or found.size != ref.size:
                return None
        return outcome

    def _decode_ref(self, ref: ObjectRef):
        data = get_verified(self.store, ref)
        if ref.content_type == NPY:
            return np.load(io.BytesIO(data), allow_pickle=False)
        if ref.content_type == NPZ:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                return dict(arrays)
        return decode_image(data, self.settings.max_pixels)

    def _fetch_inputs(self, request: StageRequest) -> StageInputs:
        image = self._decode_ref(request.image) if request.image is not None else None
        extras = {name: self._decode_ref(ref) for name, ref in request.current.inputs.items()}
        return StageInputs(image=image, extras=extras)

    def _store_outputs(self, request: StageRequest, inputs: StageInputs, result: StageOutput,
                       work_started: float | None = None) -> StepOutcome:
        """Encode and write the outputs and the outcome record, all at once (see _existing_outcome).
        `work_started` (perf_counter when this delivery was taken) gives the outcome its own `work_ms`."""
        step = request.current
        tenant, job = request.tenant_id, request.job_id
        fmt = inputs.image.format if isinstance(inputs.image, DecodedImage) else "png"
        blobs: dict[str, tuple[str, bytes, str]] = {}
        for name, value in result.artifacts.items():
            if isinstance(value, dict):  # named arrays: one compressed .npz
                buf = io.BytesIO()
                np.savez_compressed(buf, **value)
                data, ext, ctype = buf.getvalue(), "npz", NPZ
            elif value.dtype == np.uint8 and value.ndim == 3:
                data, ext, ctype = encode_image(value, "png"), "png", CONTENT_TYPES["png"]
            else:
                buf = io.BytesIO()
                np.save(buf, value, allow_pickle=False)
                data, ext, ctype = buf.getvalue(), "npy", NPY
            blobs[name] = (job_object_key(tenant, job, step.number, f"{self.stage.name}-{name}", ext), data, ctype)
        if result.image is not None:
            # a transparent PNG/WebP keeps its alpha through every stage (they work on it composited onto white)
            alpha, flattened = output_alpha(inputs.image, result.image.shape, fmt)
            if isinstance(inputs.image, DecodedImage) and inputs.image.alpha is not None:
                result.report["alpha"] = "kept" if alpha is not None else "flattened"
            if flattened:
                result.report.setdefault("warnings", []).append(flattened)
            blobs["image"] = (job_object_key(tenant, job, step.number, self.stage.name, EXTENSIONS[fmt]),
                              encode_image(result.image, fmt, alpha=alpha), CONTENT_TYPES[fmt])
        outputs = {name: ObjectRef(key=key, content_type=ctype, sha256=sha256_hex(data), size=len(data))
                   for name, (key, data, ctype) in blobs.items()}
        started = request.history[-1].finished_at if request.history else utcnow()
        work_ms = round((time.perf_counter() - work_started) * 1000, 3) if work_started is not None else None
        outcome = StepOutcome(number=step.number, stage=self.stage.name, outputs=outputs,
                              report=result.report, started_at=started, finished_at=utcnow(), work_ms=work_ms)
        writes = [(key, data, ctype) for key, data, ctype in blobs.values()]
        writes.append((outcome_key(request, self.stage.name), outcome.model_dump_json().encode(), "application/json"))
        if len(writes) == 1:
            self.store.put(*writes[0])
        else:
            list(_IO_POOL.map(lambda w: self.store.put(*w), writes))  # map re-raises the first failure
        return outcome

    # ---- events out --------------------------------------------------------------------------
    def _key(self, request: StageRequest) -> str:
        return request_key(request.tenant_id, request.job_id, self.settings.tenant_partitions)

    async def _forward(self, request: StageRequest, outcome: StepOutcome) -> None:
        remaining = request.steps[1:]
        if remaining:
            image = outcome.outputs.get("image", request.image)
            nxt = StageRequest(job_id=request.job_id, tenant_id=request.tenant_id, trace_id=request.trace_id,
                               image=image, steps=remaining, history=[*request.history, outcome],
                               event_id=f"{request.job_id}-{remaining[0].number}")
            topic = requests_topic(remaining[0].stage)
            await asyncio.gather(
                self.bus.publish(topic, nxt.model_dump_json().encode(), key=self._key(request)),
                self._emit(request, JobEventKind.progress, sequence=2 * request.current.number, outcome=outcome))
            telemetry.EVENTS_PRODUCED.labels(self.stage.name, topic).inc()
        else:
            await self._emit(request, JobEventKind.completed, sequence=2 * request.current.number, outcome=outcome)

    async def _emit(self, request: StageRequest, kind: JobEventKind, sequence: int,
                    outcome: StepOutcome | None = None, error: ErrorInfo | None = None) -> None:
        event = JobEvent(job_id=request.job_id, tenant_id=request.tenant_id, trace_id=request.trace_id, kind=kind,
                         stage=self.stage.name, step=request.current.number, sequence=sequence, outcome=outcome,
                         error=error, attempt=request.attempt)
        await self.bus.publish(JOB_EVENTS_TOPIC, event.model_dump_json().encode(), key=request.job_id)
        telemetry.EVENTS_PRODUCED.labels(self.stage.name, JOB_EVENTS_TOPIC).inc()

    async def _failed_attempt(self, d: Delivery, request: StageRequest, exc: BaseException) -> None:
        retryable = not isinstance(exc, FaceCastError) or exc.retryable
        details = {}
        if isinstance(exc, ValidationError):
            retryable, code, message = False, "invalid-input", f"invalid parameters: {exc.errors()[0]['msg']}"
        elif isinstance(exc, FaceCastError):
            code, message = exc.code, exc.message
            details = json.loads(json.dumps(exc.details, default=str))  # numpy figures and the like as text
        else:
            code, message = "stage-error", f"{type(exc).__name__}: {exc}"
        final = not retryable or request.attempt >= self.settings.max_attempts
        telemetry.EVENTS_FAILED.labels(self.stage.name, code, str(final).lower()).inc()
        log_extra = self._log_fields(request, code=code, final=final)
        if not final:
            logger.warning(f"attempt failed, retrying: {message}", extra=log_extra)
            delay = min(self.settings.retry_backoff_s * 2 ** (request.attempt - 1), self.settings.retry_backoff_max_s)
            await asyncio.sleep(delay)
            retry = request.model_copy(update={"attempt": request.attempt + 1})
            await self.bus.publish(d.topic, retry.model_dump_json().encode(), key=self._key(request))
            return
        # a failure the request caused (no face, a truncated photo, a bad parameter) is the user's to fix, not
        # an operator's: INFO; anything else (a missing engine, a bug, exhausted retries) is an ERROR
        user_caused = isinstance(exc, (InvalidInput, ValidationError))
        (logger.info if user_caused else logger.error)(f"job failed at {self.stage.name}: {message}", extra=log_extra)
        if retryable:  # exhausted attempts: keep the event for replay after a fix
            await self.bus.publish(dlq_topic(self.stage.name), d.value, key=request.job_id,
                                   headers={"error": message[:1000], "error-code": code,
                                            "attempts": str(request.attempt)})
            telemetry.EVENTS_DEAD_LETTERED.labels(self.stage.name).inc()
        error = ErrorInfo(code=code, message=message, stage=self.stage.name, retryable=retryable, details=details)
        await self._emit(request, JobEventKind.failed, sequence=2 * request.current.number, error=error)


def health_app(workers: list[StageWorker]):
    """`/healthz` (process alive), `/readyz` (subscribed and not stopping; when not, what each stage waits
    for), `/metrics` (Prometheus)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def healthz(_):
        return JSONResponse({"status": "ok"})

    async def readyz(_):
        ready = all(w.ready for w in workers)
        body = {"ready": ready, "stages": [w.stage.name for w in workers]}
        if not ready:
            body["waiting_for"] = {w.stage.name: w.waiting_for for w in workers if not w.ready}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(_):
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)])


def check_weights_at_start(stage: StageDefinition, models) -> list[str]:
    """Hash every model-store file the stage's engines name before taking any event, so a file that does
    not match its manifest stops the worker at start (WeightsMismatch) instead of failing jobs later.
    Returns the names found in the store; names not there are files shipped in packages (checked by
    their engine when it loads) or absent weights (their engine reports itself unavailable)."""
    records = models.records()
    checked = [name for engine in stage.engines.values() for name in engine.weights if name in records]
    for name in checked:
        models.path(name)
    logger.info(f"stage {stage.name}: weights verified against the model store: {', '.join(checked) or 'none listed'}")
    return checked


async def serve_stage(stage: StageDefinition, settings) -> None:
    """Run one stage service as its own process (`facecast worker <stage>`), until SIGTERM. The health port
    answers from the start, so /readyz can say what the worker still waits for (weights, broker, group)."""
    import uvicorn

    from shared.bus import open_bus
    from shared.store import open_store
    from shared.weights import ModelStore

    models = ModelStore.from_settings(settings)
    bus = open_bus(settings)
    worker = StageWorker(stage, bus, open_store(settings), StageContext(settings, models))
    worker.install_signal_handlers()
    server = None
    if settings.worker_port:
        config = uvicorn.Config(health_app([worker]), host=settings.host, port=settings.worker_port, lifespan="off",
                                log_level="warning", log_config=None)  # its lines go through the JSON handler
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # the worker owns SIGTERM
        serving = asyncio.create_task(server.serve())
    try:
        worker.waiting_for = "hashing the stage's weights against the model store"
        await asyncio.to_thread(check_weights_at_start, stage, models)
        worker.waiting_for = f"connecting to the Kafka broker at {settings.kafka_bootstrap}"
        await bus.start()
        logger.info(f"stage {stage.name}: joining consumer group {consumer_group(stage.name)}",
                    extra=telemetry.log_fields(stage=stage.name, health_port=settings.worker_port or None))
        await worker.run()
    finally:
        if server is not None:  # stopped, not cancelled at exit (which uvicorn logs as an error)
            server.should_exit = True
            await asyncio.wait([serving], timeout=5)
        await bus.stop()
