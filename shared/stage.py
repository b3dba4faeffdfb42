"""The one stage interface.

A stage is a pure function `run(params, inputs, ctx) -> StageOutput`: images in, images + report out.
It never touches the bus or the object store; the worker runtime (`shared.runtime`) does all of that,
and the CLI and the tests call `run` directly. Each `services/<stage>/stage.py` exposes `STAGE`.

What the gateway needs of a stage is its `StageContract` (`services/<stage>/contract.py` exposes
`CONTRACT`): the params model, the names of the step inputs, `check_inputs`, the engines' metadata and
the params of its other step kinds (`actions`: the swapper's `prepare`, the generator's `fit`). A
contract imports neither torch, OpenCV nor MediaPipe, so the gateway starts without them; a
`StageDefinition` is a contract plus the functions that do the work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import numpy as np
from pydantic import BaseModel

from shared.engines import EngineInfo
from shared.errors import InvalidInput
from shared.images import DecodedImage
from shared.settings import Settings
from shared.weights import ModelStore


@dataclass
class StageContext:
    """What a stage may use besides its inputs: settings and verified weights."""
    settings: Settings
    models: ModelStore


@dataclass
class StageInputs:
    """`image` is the working image (None for the generator); `extras` are the step's named inputs,
    decoded: images as DecodedImage, `.npy` objects as numpy arrays, `.npz` objects as dicts of them."""
    image: DecodedImage | None
    extras: dict[str, DecodedImage | np.ndarray | dict[str, np.ndarray]] = field(default_factory=dict)


@dataclass
class StageOutput:
    """`image` becomes the next working image (same size/format as the input unless the stage
    upscales); `artifacts` are extra named outputs (candidate portraits as BGR uint8 images, latents
    as float arrays, several named arrays as one `.npz`: a prepared source); `report` is JSON-able and
    must name the engine and its licence."""
    image: np.ndarray | None
    report: dict[str, Any]
    artifacts: dict[str, np.ndarray | dict[str, np.ndarray]] = field(default_factory=dict)


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


T = TypeVar("T")


def isolated(work: Callable[..., T], *args) -> T | Exception:
    """`work(*args)`, or the exception it raised: how a `run_batch` keeps one event's (or one engine
    pass's) failure to the events it concerns."""
    try:
        return work(*args)
    except Exception as exc:  # handed back in the failing events' places
        return exc


def _parse(name: str, params_model: type[BaseModel], actions: Mapping[str, type[BaseModel]], raw: dict,
           action: str | None) -> BaseModel:
    if action is None:
        return params_model.model_validate(raw)
    if action not in actions:
        raise InvalidInput(f"stage {name!r} has no step {action!r}; its steps are the main one"
                           f"{''.join(f', {a!r}' for a in actions)}")
    return actions[action].model_validate(raw)


@dataclass(frozen=True)
class StageContract:
    """A stage as the gateway sees it, torch-free: what a step of it may say and carry.

    `extra_inputs`: names of step inputs the main step reads (e.g. "source"); `check_inputs(params,
    input_names)` refuses a wrong combination before anything is queued; `actions`: the params model of
    each other step kind, by name (such a step travels with `Step.action` set); `prepared_inputs`: the
    inputs that take a virtual model's prepared source (the swapper's `prepare` output) in place of its
    portrait."""
    name: str
    params_model: type[BaseModel]
    engines: Mapping[str, EngineInfo]
    extra_inputs: tuple[str, ...] = ()
    check_inputs: Callable[[BaseModel, frozenset[str]], None] | None = None
    actions: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    prepared_inputs: tuple[str, ...] = ()

    def parse_params(self, raw: dict, action: str | None = None) -> BaseModel:
        return _parse(self.name, self.params_model, self.actions, raw, action)


@dataclass(frozen=True)
class StageAction:
    """One other step kind of a stage: its params model and the function that runs it (one event)."""
    params_model: type[BaseModel]
    run: RunFn


@dataclass(frozen=True)
class StageDefinition:
    name: str  # generator | swapper | enhancer | makeup (or a test stage)
    params_model: type[BaseModel]
    run: RunFn
    engines: Mapping[str, EngineInfo]  # the stage's EngineRegistry (or a plain dict for test stages)
    run_batch: RunBatchFn | None = None  # one model call for several events (GPU stages)
    extra_inputs: tuple[str, ...] = ()  # names of step inputs this stage may read (e.g. "source")
    # Checks which named inputs a step gives against its params (makeup: a `look` or a `reference`, not
    # both), so that the gateway refuses a wrong combination before anything is queued.
    check_inputs: Callable[[BaseModel, frozenset[str]], None] | None = None
    actions: Mapping[str, StageAction] = field(default_factory=dict)  # other step kinds, by name
    prepared_inputs: tuple[str, ...] = ()

    @classmethod
    def implementing(cls, contract: StageContract, run: RunFn, run_batch: RunBatchFn | None = None,
                     actions: Mapping[str, RunFn] | None = None) -> "StageDefinition":
        """The stage that does the work its contract describes (one `run` per action the contract names)."""
        actions = dict(actions or {})
        if set(actions) != set(contract.actions):
            raise ValueError(f"stage {contract.name!r}: the contract names steps {sorted(contract.actions)}, "
                             f"the implementation runs {sorted(actions)}")
        return cls(name=contract.name, params_model=contract.params_model, run=run, engines=contract.engines,
                   run_batch=run_batch, extra_inputs=contract.extra_inputs, check_inputs=contract.check_inputs,
                   actions={name: StageAction(contract.actions[name], fn) for name, fn in actions.items()},
                   prepared_inputs=contract.prepared_inputs)

    @property
    def contract(self) -> StageContract:
        return StageContract(name=self.name, params_model=self.params_model, engines=self.engines,
                             extra_inputs=self.extra_inputs, check_inputs=self.check_inputs,
                             actions={name: action.params_model for name, action in self.actions.items()},
                             prepared_inputs=self.prepared_inputs)

    def parse_params(self, raw: dict, action: str | None = None) -> BaseModel:
        return _parse(self.name, self.params_model, {n: a.params_model for n, a in self.actions.items()}, raw,
                      action)

    def runner(self, action: str | None) -> RunFn:
        """The function that runs one event of a step kind (None: the main step)."""
        return self.run if action is None else self.actions[action].run
