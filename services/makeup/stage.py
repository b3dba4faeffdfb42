"""The makeup stage: put a makeup look on the face(s) of the working image.

The look comes from exactly one of: a reference photo (step input `reference`, a made-up face) or a
named preset (`look`, see `looks.json`; landmarks engine only). `regions` limits the change to some
of lips, eyeshadow, eyeliner, blush and brows; `intensity` (0–1) scales everything and
`region_intensity` sets single regions (for a preset it replaces that region's own intensity).
Only face pixels change: outside the face's soft masks the output is byte-identical to the input.
`run_batch` makes up the beautygan faces of several events in one network pass; with the network's
per-instance normalisation the result is the same as each event's own `run`.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator

from services.makeup.colour import REGIONS
from services.makeup.engines import REGISTRY
from services.makeup.engines.request import MakeupRequest
from services.makeup.looks import Region, load_looks, look_names
from shared.errors import InvalidInput
from shared.faces import FaceSelection
from shared.images import DecodedImage
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, isolated, one_event

REFERENCE_INPUT = "reference"
Intensity = Annotated[float, Field(ge=0.0, le=1.0)]


class MakeupParams(FaceSelection):
    """Face selection (`face_selector`, `face_index`) plus the look and how strongly to apply it."""
    model_config = ConfigDict(extra="forbid")
    engine: REGISTRY.name_field = REGISTRY.default
    look: str | None = Field(None, description="preset name; or give a `reference` image input instead")
    regions: list[Region] | None = Field(None, min_length=1, description="default: every region of the look")
    intensity: Intensity = Field(1.0, description="0 = unchanged, 1 = the full look; scales every region")
    region_intensity: dict[Region, Intensity] = Field(
        default_factory=dict, description="per-region intensity (replaces a preset's own), times `intensity`")

    @field_validator("look")
    @classmethod
    def _known_look(cls, value: str | None) -> str | None:
        if value is not None and value not in load_looks():
            raise ValueError(f"unknown look {value!r}; looks are {', '.join(look_names())}")
        return value

    @field_validator("regions")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("regions must not repeat")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "MakeupParams":
        if self.face_selector == "reference":
            raise ValueError("face_selector 'reference' is not available for makeup: its `reference` input is "
                             "the makeup photo, another person; use largest, index or all")
        if self.engine == "beautygan" and self.look is not None:
            raise ValueError("the beautygan engine transfers from a reference photo; presets (`look`) "
                             "need the landmarks engine")
        if self.look is not None:
            offered = load_looks()[self.look].regions
            absent = [r for r in self.regions or () if r not in offered]
            if absent:
                raise ValueError(f"look {self.look!r} has no {', '.join(absent)}; it defines "
                                 f"{', '.join(offered)}")
        requested = self.regions if self.regions is not None else self._default_regions()
        stray = [r for r in self.region_intensity if r not in requested]
        if stray:
            raise ValueError(f"region_intensity names {', '.join(stray)}, which is not among the regions "
                             f"applied ({', '.join(requested)})")
        return self

    def _default_regions(self) -> list[str]:
        if self.look is not None:
            return list(load_looks()[self.look].regions)
        return list(REGIONS)

    def applied_regions(self) -> list[str]:
        return list(self.regions) if self.regions is not None else self._default_regions()


def check_makeup_source(params: MakeupParams, input_names: frozenset[str]) -> None:
    """Exactly one source of the look: a preset or a reference photo."""
    has_reference = REFERENCE_INPUT in input_names
    if has_reference == (params.look is not None):
        raise InvalidInput(
            "give exactly one makeup source: a `look` (one of " + ", ".join(look_names()) + ") or a reference photo "
            f"as the step input {REFERENCE_INPUT!r}" + (", not both" if has_reference else ""))


def run_batch(items: list[tuple[MakeupParams, StageInputs]], ctx: StageContext) -> list[StageOutput | Exception]:
    """Make up every event: each is checked alone (images, the look's source), then the events of each
    engine go to its `run_batch` together (beautygan: the faces of all of them in one network pass;
    landmarks: one by one). A failing event gets its exception in its place and does not stop the
    others; an engine that cannot load fails its events."""
    results: list = [isolated(_request, params, inputs) for params, inputs in items]
    for name in REGISTRY.names():
        mine = [i for i, r in enumerate(results) if isinstance(r, MakeupRequest) and r.params.engine == name]
        if not mine:
            continue
        outputs = isolated(lambda: REGISTRY.load(name, ctx.models, ctx.settings).run_batch(
            [results[i] for i in mine], ctx))
        for position, i in enumerate(mine):
            results[i] = outputs if isinstance(outputs, Exception) else outputs[position]
    return results


def _request(params: MakeupParams, inputs: StageInputs) -> MakeupRequest:
    image = _working_image(inputs)
    reference = _reference_image(inputs)
    check_makeup_source(params, frozenset(inputs.extras))
    report = {**REGISTRY[params.engine].public(), "look": params.look, "reference": reference is not None,
              "intensity": params.intensity, "regions": params.applied_regions()}
    return MakeupRequest(params=params, image=image, reference=reference, report=report)


def _working_image(inputs: StageInputs) -> np.ndarray:
    if not isinstance(inputs.image, DecodedImage):
        raise InvalidInput("the makeup stage needs a working image (the product photo)")
    return inputs.image.pixels


def _reference_image(inputs: StageInputs) -> np.ndarray | None:
    unexpected = [name for name in inputs.extras if name != REFERENCE_INPUT]
    if unexpected:
        raise InvalidInput(f"the makeup stage reads only the {REFERENCE_INPUT!r} input, got {', '.join(unexpected)}")
    reference = inputs.extras.get(REFERENCE_INPUT)
    if reference is None:
        return None
    if not isinstance(reference, DecodedImage):
        raise InvalidInput(f"the makeup {REFERENCE_INPUT!r} must be an image of a made-up face, "
                           f"not a {type(reference).__name__}")
    return reference.pixels


run = one_event(run_batch)


STAGE = StageDefinition(name="makeup", params_model=MakeupParams, run=run, engines=REGISTRY, run_batch=run_batch,
                        extra_inputs=(REFERENCE_INPUT,), check_inputs=check_makeup_source)
