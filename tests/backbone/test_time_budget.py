"""A step that costs more than its stage's time budget fails with the reason and frees the worker
(issue 14, item 7): at its own checkpoint when the stage has one, or by the runtime when it has none."""
from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel, ConfigDict

from shared.budget import TimeBudgetExceeded, check_time_budget, time_budget
from shared.events import JobEventKind
from shared.stage import StageDefinition, StageOutput
from tests.backbone.stages import TEST_ENGINE
from tests.backbone.test_runtime import Harness

FINISHED = threading.Event()


class WorkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.0
    checks: bool = True


def slow(params: WorkParams, inputs, ctx) -> StageOutput:
    """Many small units of work, each followed by a budget checkpoint (as the face detector does)."""
    end = time.monotonic() + params.seconds
    try:
        while time.monotonic() < end:
            time.sleep(0.01)
            if params.checks:
                check_time_budget()
    finally:
        FINISHED.set()
    return StageOutput(image=inputs.image.pixels, report={})


SLOW = StageDefinition(name="slow", params_model=WorkParams, run=slow, engines=TEST_ENGINE)


@pytest.fixture
async def harness(tmp_path):
    FINISHED.clear()
    h = Harness(tmp_path, stage_time_budget_s=30.0, stage_time_budgets_s={"slow": 0.3})
    yield h
    await h.stop()


async def test_a_step_past_its_budget_fails_at_its_checkpoint_with_the_reason(harness):
    harness.start(SLOW)
    started = time.monotonic()
    request = await harness.submit([("slow", {"seconds": 20})])
    final = await harness.final(request.job_id)
    assert time.monotonic() - started < 5  # not the 20 s the input asked for
    assert final.kind == JobEventKind.failed
    assert final.error.code == "time-budget-exceeded" and not final.error.retryable
    assert "time budget of 0.3 s" in final.error.message and "slow" in final.error.message
    fast = await harness.submit([("slow", {"seconds": 0.01})])  # the worker is free for the next job
    assert (await harness.final(fast.job_id)).kind == JobEventKind.completed


async def test_a_stage_without_checkpoints_is_failed_by_the_runtime_and_holds_its_slot(harness):
    harness.start(SLOW)
    started = time.monotonic()
    request = await harness.submit([("slow", {"seconds": 3, "checks": False})])
    nxt = await harness.submit([("slow", {"seconds": 0.01})])
    final = await harness.final(request.job_id)
    assert time.monotonic() - started < 2.5  # failed at budget + grace, before the stage returned
    assert not FINISHED.is_set()
    assert final.error.code == "time-budget-exceeded"
    # the next job waits for the thread to end (the worker never runs more than its concurrency)
    assert (await harness.final(nxt.job_id)).kind == JobEventKind.completed
    assert FINISHED.is_set()


def test_check_time_budget_is_a_no_op_outside_a_budget_and_raises_once_spent():
    check_time_budget()
    with time_budget(0.05, "makeup"):
        check_time_budget()
        time.sleep(0.06)
        with pytest.raises(TimeBudgetExceeded, match="makeup step ran past its time budget of 0.05 s"):
            check_time_budget()
    check_time_budget()


def test_a_tiled_upscale_stops_between_tiles_once_the_budget_is_spent():
    import numpy as np

    from shared import realesrgan

    calls = []

    def tile_fn(tile):
        calls.append(tile.shape)
        time.sleep(0.02)
        return np.repeat(np.repeat(tile, 2, axis=0), 2, axis=1)

    image = np.zeros((256, 256, 3), np.float32)
    with time_budget(0.05, "enhancer"), pytest.raises(TimeBudgetExceeded):
        realesrgan.tiled_apply(image, tile_fn, 2, tile=32, overlap=4)
    assert 1 <= len(calls) < 10  # of 64 tiles
