"""What a makeup engine is given: one checked request (the stage made it), and the region weights."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass
class MakeupRequest:
    """One event, checked: its params (`MakeupParams`), the working image (BGR uint8, never changed: an
    engine writes its result to a copy), the reference photo of the look (or None: a preset `look`), and
    the report so far (engine, look, intensity, regions)."""
    params: Any
    image: np.ndarray
    reference: np.ndarray | None
    report: dict


def region_weights(params, default_intensity: Callable[[str], float]) -> dict[str, float]:
    """Each applied region's weight: `intensity` × (the region's own intensity, else the default)."""
    return {region: params.intensity * params.region_intensity.get(region, default_intensity(region))
            for region in params.applied_regions()}
