"""An operator can follow an event and a worker's start: one JSON log line per event with its job id and
trace id, nothing but JSON on a worker's stderr (MediaPipe and TFLite write to fd 2 directly), and a
/readyz that says what the worker still waits for."""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx

from shared.bus.memory import MemoryBus
from shared.runtime import health_app
from tests.backbone.stages import INVERT
from tests.backbone.test_runtime import Harness
from tests.gateway.test_request_id import JsonLines

ROOT = Path(__file__).resolve().parents[2]


async def test_every_event_gets_a_log_line_with_its_job_and_trace_id(tmp_path):
    harness = Harness(tmp_path)
    lines = JsonLines()
    runtime_logger = logging.getLogger("facecast.runtime")
    runtime_logger.addHandler(lines)
    old_level = runtime_logger.level
    runtime_logger.setLevel(logging.INFO)
    harness.start(INVERT)
    try:
        first = await harness.submit([("invert", {})])
        second = await harness.submit([("invert", {})])
        for request in (first, second):
            await harness.final(request.job_id)
    finally:
        runtime_logger.removeHandler(lines)
        runtime_logger.setLevel(old_level)
        for worker in harness.workers:
            worker.request_stop()
        await asyncio.gather(*harness.tasks)
    done = [e for e in lines.entries() if e["msg"] == "step done"]
    assert [(e["job_id"], e["trace_id"]) for e in done] == [(first.job_id, first.trace_id),
                                                            (second.job_id, second.trace_id)]
    assert all(e["stage"] == "invert" and e["step"] == 1 and e["attempt"] == 1 and e["work_ms"] > 0 for e in done)
    assert all(e["tenant_id"] == first.tenant_id and e["outputs"] == ["image"] for e in done)


class SlowJoinBus(MemoryBus):
    """A consumer group join that takes as long as the test wants (Kafka's rebalance)."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = asyncio.Event()

    async def subscribe(self, topics, group):
        await self.joined.wait()
        return await super().subscribe(topics, group)


async def test_readyz_says_what_the_worker_waits_for(tmp_path):
    harness = Harness(tmp_path)
    harness.bus = SlowJoinBus()
    worker = harness.start(INVERT)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=health_app([worker])), base_url="http://worker")
    try:
        await asyncio.sleep(0.05)
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503
        reason = waiting.json()["waiting_for"]["invert"]
        assert reason.startswith("joining consumer group facecast-invert on facecast.invert.requests")
        harness.bus.joined.set()
        for _ in range(100):
            if (ready := await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.02)
        assert ready.json() == {"ready": True, "stages": ["invert"]}
    finally:
        worker.request_stop()
        await asyncio.gather(*harness.tasks)
        await client.aclose()


NATIVE_SCRIPT = """
import logging, os, time
from shared.telemetry import capture_native_stderr, configure_logging
configure_logging()
capture_native_stderr()
from skimage import data
from shared.faces import image_face_mesh, largest_face
image = data.astronaut()[:, :, ::-1].copy()
image_face_mesh(image, largest_face(image))  # MediaPipe and TFLite print their start-up lines to fd 2
os.write(2, b"E0000 00:00:1.5 77 calculator_graph.cc:1] a native error\\n")
logging.getLogger("facecast.test").info("python line")
time.sleep(0.3)  # the pump thread logs what is left in the pipe
"""


def test_native_library_output_stays_out_of_the_json_log():
    done = subprocess.run([sys.executable, "-c", NATIVE_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    entries = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    assert [e["msg"] for e in entries if e["logger"] == "facecast.test"] == ["python line"]
    native = [e for e in entries if e["logger"] == "facecast.native"]
    assert [(e["level"], e["msg"]) for e in native] == [("error", "E0000 00:00:1.5 77 calculator_graph.cc:1] a native error")]
