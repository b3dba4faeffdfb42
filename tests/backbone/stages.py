"""Test-only stages that prove the backbone without any model: they live here, not in services/."""
from __future__ import annotations

import os
import time

from pydantic import BaseModel, ConfigDict

from shared.errors import TransientError
from shared.stage import StageDefinition, StageOutput
from shared.engines import EngineInfo

TEST_ENGINE = {"test": EngineInfo(name="test", stage="test", title="test engine", code_licence="MIT",
                                  licence="MIT (test)")}


class InvertParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sleep_s: float = 0.0  # lets the crash tests kill a worker mid-event


def invert(params: InvertParams, inputs, ctx) -> StageOutput:
    if params.sleep_s:
        time.sleep(params.sleep_s)
    return StageOutput(image=255 - inputs.image.pixels, report={"pid": os.getpid(), **TEST_ENGINE["test"].public()})


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def passthrough(params, inputs, ctx) -> StageOutput:
    """The no-op stage of the bus benchmark: the image goes through unchanged (still stored again)."""
    return StageOutput(image=inputs.image.pixels, report=TEST_ENGINE["test"].public())


def always_raise(params, inputs, ctx) -> StageOutput:
    raise TransientError("the test stage always fails")


INVERT = StageDefinition(name="invert", params_model=InvertParams, run=invert, engines=TEST_ENGINE)
INVERT_AGAIN = StageDefinition(name="invert2", params_model=InvertParams, run=invert, engines=TEST_ENGINE)
BOOM = StageDefinition(name="boom", params_model=NoParams, run=always_raise, engines=TEST_ENGINE)
NOOP = StageDefinition(name="noop", params_model=NoParams, run=passthrough, engines=TEST_ENGINE)
