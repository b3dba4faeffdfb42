"""The swapper's contract: what a swap step may say and carry, torch- and OpenCV-free (the gateway's view).

The main step swaps faces: the working image is the target photo, input `source` the virtual model's
face (its portrait, or the source prepared from it), and for `face_selector: reference` input
`reference` a photo of the person whose face is to be replaced.

The `prepare` step runs once per virtual model, when it is accepted or imported: from input `source`
(the portrait) it finds the face whole, masks what covers it (hair, glasses, hands), super-resolves it
when it is small, meshes it and embeds its identity, and outputs the prepared source as the artifact
`prepared-source` (a `.npz`) with the report `{"source_face": …, "embedding": [128 floats]}`. A
portrait that cannot make a clean source (no face, a face too small or cut by the border) fails the
step with the reason. Swaps then read the prepared source in place of the portrait
(`prepared_inputs`), so per-photo work skips all of that.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.swapper.engines import REGISTRY
from shared.params import FaceSelection
from shared.stage import StageContract

SOURCE_INPUT = "source"
REFERENCE_INPUT = "reference"
PREPARE = "prepare"  # the step that prepares a virtual model's source
PREPARED_SOURCE = "prepared-source"  # the prepare step's artifact


class SwapParams(FaceSelection):
    """Which target face(s) to replace (`face_selector`, `face_index`) and how."""
    model_config = ConfigDict(extra="forbid")
    engine: REGISTRY.name_field = REGISTRY.default
    color_match: bool = Field(True, description="move the new face's skin colour onto the target's (CIELAB)")
    blend: float = Field(1.0, ge=0.0, le=1.0, description="0 keeps the original face, 1 the full swap")
    keep_occlusions: bool = Field(True, description="keep hands, hair, glasses in front of the face")

    @model_validator(mode="after")
    def _index_needs_index_selector(self) -> "SwapParams":
        if self.face_index and self.face_selector != "index":
            raise ValueError("face_index is used only with face_selector 'index'")
        return self


class PrepareParams(BaseModel):
    """The prepare step takes no parameters: the source is prepared for every engine and template."""
    model_config = ConfigDict(extra="forbid")


CONTRACT = StageContract(name="swapper", params_model=SwapParams, engines=REGISTRY,
                         extra_inputs=(SOURCE_INPUT, REFERENCE_INPUT), actions={PREPARE: PrepareParams},
                         prepared_inputs=(SOURCE_INPUT,))
