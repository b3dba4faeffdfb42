"""The makeup stage's contract: what a makeup step may say and carry, torch- and OpenCV-free (the gateway's view).

The look comes from exactly one of: a reference photo (step input `reference`, a made-up face) or a named
preset (`look`, see `looks.json`; landmarks engine only); `check_makeup_source` refuses neither or both
before anything is queued.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from services.makeup.engines import REGISTRY
from services.makeup.looks import REGIONS, Region, load_looks, look_names
from shared.errors import InvalidInput
from shared.params import FaceSelection
from shared.stage import StageContract

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


CONTRACT = StageContract(name="makeup", params_model=MakeupParams, engines=REGISTRY,
                         extra_inputs=(REFERENCE_INPUT,), check_inputs=check_makeup_source)
