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

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field, field_validator, model_validator

from services.makeup.colour import REGIONS
from services.makeup.engines import beautygan, landmarks
from services.makeup.engines.geometry import reference_geometry
from services.makeup.looks import Look, Region, load_looks, look_names
from shared.budget import check_time_budget
from shared.errors import InvalidInput
from shared.faces import FaceSelection, find_faces
from shared.images import DecodedImage
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, one_event
from shared.weights import EngineInfo

ENGINES: dict[str, EngineInfo] = {"landmarks": landmarks.INFO, "beautygan": beautygan.INFO}
REFERENCE_INPUT = "reference"
Intensity = Annotated[float, Field(ge=0.0, le=1.0)]


class MakeupParams(FaceSelection):
    """Face selection (`face_selector`, `face_index`) plus the look and how strongly to apply it."""
    model_config = ConfigDict(extra="forbid")
    engine: Literal["landmarks", "beautygan"] = "landmarks"
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
    """Make up every event; the beautygan faces of all events go through the network together.

    Each beautygan event is prepared alone (checks, weights, reference face, faces found and aligned on
    the input image), then the faces of every event that share a network (the same loaded weights and
    input size) make one forward pass (`beautygan.MAX_BATCH` faces at most per pass), then each event is
    blended back alone. Landmarks events (CPU, no network) run one by one. A failing event gets its
    exception in its place and does not stop the others; a failing forward pass fails the events in it.
    """
    results: list[StageOutput | Exception | None] = [None] * len(items)
    gan_events: dict[int, _GanEvent] = {}
    for i, (params, inputs) in enumerate(items):
        try:
            if params.engine == "beautygan":
                gan_events[i] = _prepare_gan(params, inputs, ctx)
            else:
                results[i] = _run_landmarks(params, inputs)
        except Exception as exc:  # this event's failure alone
            results[i] = exc
    groups: dict[tuple[int, int], list[int]] = {}
    for i, event in gan_events.items():
        groups.setdefault((id(event.model), event.size), []).append(i)
    for chosen in groups.values():
        model = gan_events[chosen[0]].model
        targets = [face.target for i in chosen for face in gan_events[i].faces]
        references = [gan_events[i].reference for i in chosen for _ in gan_events[i].faces]
        try:
            made_up = iter(beautygan.made_up_crops(model, targets, references))
        except Exception as exc:  # the pass failed: every event in it failed
            for i in chosen:
                results[i] = exc
            continue
        for i in chosen:
            crops = [next(made_up) for _ in gan_events[i].faces]
            try:
                results[i] = _finish_gan(gan_events[i], crops)
            except Exception as exc:
                results[i] = exc
    return results


@dataclass
class _GanEvent:
    """One beautygan event made ready for the network: everything but the forward pass and the paste."""
    params: MakeupParams
    image: np.ndarray
    report: dict
    model: torch.nn.Module
    size: int
    reference: torch.Tensor  # the reference face's network input, [1, 3, size, size]
    faces: list[beautygan.PreparedFace]
    region_weights: dict[str, float] | None  # None: the face oval at `intensity`


def _base_report(params: MakeupParams, reference: np.ndarray | None) -> dict:
    return {**ENGINES[params.engine].public(), "look": params.look, "reference": reference is not None,
            "intensity": params.intensity, "regions": params.applied_regions()}


def _prepare_gan(params: MakeupParams, inputs: StageInputs, ctx: StageContext) -> _GanEvent:
    """Checks, weights, the reference face and the target faces, all aligned on the input image."""
    image = _working_image(inputs)
    reference = _reference_image(inputs)
    check_makeup_source(params, frozenset(inputs.extras))
    report = _base_report(params, reference)
    model, record = beautygan.load_generator(ctx.models)  # missing weights fail before any face work
    size = beautygan.network_size(record)
    source = reference_geometry(reference)
    faces = find_faces(image, params)
    by_region = params.regions is not None or bool(params.region_intensity)
    report["weights"] = record.public()
    report["commercial_use"] = record.commercial_use  # the code is MIT: the weights' own terms decide
    report["blend"] = "regions" if by_region else "face oval"
    return _GanEvent(params=params, image=image, report=report, model=model, size=size,
                     reference=beautygan.network_input(source.aligned.crop, size),
                     faces=[beautygan.prepare_face(image, face, size) for face in faces],
                     region_weights=_region_weights(params, lambda region: 1.0) if by_region else None)


def _finish_gan(event: _GanEvent, made_up: list[np.ndarray]) -> StageOutput:
    result = event.image.copy()
    faces = [beautygan.blend_face(result, face, crop, event.params.intensity, event.region_weights)
             for face, crop in zip(event.faces, made_up)]
    return StageOutput(image=result, report={**event.report, "faces": faces})


def _run_landmarks(params: MakeupParams, inputs: StageInputs) -> StageOutput:
    image = _working_image(inputs)
    reference = _reference_image(inputs)
    check_makeup_source(params, frozenset(inputs.extras))
    report = _base_report(params, reference)
    goals, unavailable = _landmark_goals(params, reference)
    faces = find_faces(image, params)
    result = image.copy()
    report["faces"] = []
    for face in faces:  # each face's work is on its own region; the budget is checked between faces
        check_time_budget()
        report["faces"].append(landmarks.apply_to_face(result, face, goals))
    if unavailable:
        report["not_in_reference"] = unavailable
    return StageOutput(image=result, report=report)


def _landmark_goals(params: MakeupParams, reference: np.ndarray | None) -> tuple[dict, dict]:
    """Goal colour and weight per region, and the regions the reference does not show."""
    if reference is None:
        look: Look = load_looks()[params.look]
        weights = _region_weights(params, lambda region: look.regions[region].intensity)
        return {r: landmarks.RegionGoal(lab=look.regions[r].lab(), weight=w) for r, w in weights.items()}, {}
    colours = landmarks.reference_colours(reference)
    weights = _region_weights(params, lambda region: 1.0)
    goals = {r: landmarks.RegionGoal(lab=colours[r].lab, weight=w) for r, w in weights.items()
             if colours[r] is not None}
    unavailable = {r: "region not visible on the reference face" for r in weights if colours[r] is None}
    if not goals:
        raise InvalidInput("none of the requested regions (" + ", ".join(weights) + ") is visible on the "
                           "reference face")
    return goals, unavailable


def _region_weights(params: MakeupParams, default_intensity) -> dict[str, float]:
    return {region: params.intensity * params.region_intensity.get(region, default_intensity(region))
            for region in params.applied_regions()}


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


STAGE = StageDefinition(name="makeup", params_model=MakeupParams, run=run, engines=ENGINES, run_batch=run_batch,
                        extra_inputs=(REFERENCE_INPUT,), check_inputs=check_makeup_source)
