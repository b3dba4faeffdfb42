"""Swap engines: `classical` (own code, packaged models only) and `faceshifter` (model-store weights).

Each engine module declares `INFO` (licence, weights), `TEMPLATE` (the alignment its crops use) and
`swap(pairs, models) -> list[EngineOutput]`; compositing, colour, occlusion and the report are
shared (`services.swapper.compose`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EngineOutput:
    """A swapped face in the target's aligned-crop frame: pixels, their mesh geometry, and the weight
    (0..1) of where the crop holds a usable face (e.g. inside the warped mesh)."""
    crop: np.ndarray = field(repr=False)
    mesh: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)
