"""The one stage interface.

A stage is a pure function `run(params, inputs, ctx) -> StageOutput`: images in, images + report out.
It never touches the bus or the object store; the worker runtime (`shared.runtime`) does all of that,
and the CLI and the tests call `run` directly. Each `services/<stage>/stage.py` exposes `STAGE`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel

from shared.images import DecodedImage
from shared.settings import Settings
from shared.weights import EngineInfo, ModelStore


@dataclass
class StageContext:
    """What a stage may use besides its inputs: settings and verified weights."""
    settings: Settings
    models: ModelStore


@dataclass
class StageInputs:
    """`image` is the working image (None for the generator); `extras` are the step's named inputs,
    decoded: images as DecodedImage, `.npy` objects as numpy arrays."""
    image: DecodedImage | None
    extras: dict[str, DecodedImage | np.ndarray] = field(default_factory=dict)


@dataclass
class StageOutput:
    """`image` becomes the next working image (same size/format as the input unless the stage
    upscales); `artifacts` are extra named outputs (candidate portraits as BGR uint8 images, latents
    as float arrays); `report` is JSON-able and must name the engine and its licence."""
    image: np.ndarray | None
    report: dict[str, Any]
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)


RunFn = Callable[[BaseModel, StageInputs, StageContext], StageOutput]
# A batch call returns one entry per item; an item that failed alone is returned as its exception.
RunBatchFn = Callable[[list[tuple[BaseModel, StageInputs]], StageContext], list[StageOutput | Exception]]


def one_event(run_batch: RunBatchFn) -> RunFn:
    """The `run` of a stage whose work is done batch-wise: one event through `run_batch`, and its
    failure raised (so the CLI, the tests and the runtime see the very code a batch runs)."""
    def run(params: BaseModel, inputs: StageInputs, ctx: StageContext) -> StageOutput:
        result = run_batch([(params, inputs)], ctx)[0]
        if isinstance(result, Exception):
            raise result
        return result
    return run


@dataclass(frozen=True)
class StageDefinition:
    name: str  # generator | swapper | enhancer | makeup (or a test stage)
    params_model: type[BaseModel]
    run: RunFn
    engines: dict[str, EngineInfo]
    run_batch: RunBatchFn | None = None  # one model call for several events (GPU stages)
    extra_inputs: tuple[str, ...] = ()  # names of step inputs this stage may read (e.g. "source")
    # Checks which named inputs a step gives against its params (makeup: a `look` or a `reference`, not
    # both), so that the gateway refuses a wrong combination before anything is queued.
    check_inputs: Callable[[BaseModel, frozenset[str]], None] | None = None

    def parse_params(self, raw: dict) -> BaseModel:
        return self.params_model.model_validate(raw)
