"""The enhancer's contract: what an enhance step may say and carry, torch- and OpenCV-free (the gateway's view).

The step restores the selected faces of the working image (and upscales it ×2/×4 with `scale`); for
`face_selector: reference` the input `reference` is a portrait or an identity embedding of the face to
restore.
"""
from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from services.enhancer.engines import REGISTRY
from shared.params import FaceSelection
from shared.stage import StageContract

# Gaussian sigma in pixels of a face aligned to ffhq512 (eye distance 126 px), converted to each
# engine's crop. `bench/enhancer.py --tune-blur` (realesrgan; clean, noisy, JPEG and reduced+JPEG
# astronaut and Hopper faces) shows σ ≤ 1 changes nothing measurable (PSNR in the face oval and SFace
# identity against the clean face identical to σ=0), σ=2 costs up to 0.5 dB and 0.02 identity, and
# larger σ costs more at every degradation: Real-ESRGAN is itself trained on blurred, noisy and JPEG
# inputs. So the default is the seed's slight blur at its smallest harmless value: 1.0, which is
# ~0.85 px on GPEN's 512 crop (softening pixel-level swap artefacts the GAN prior would otherwise
# reproduce; not measurable here without GPEN weights) and ~0.25 px, i.e. none, on Real-ESRGAN's.
DEFAULT_PRE_BLUR_SIGMA = 1.0
REFERENCE_INPUT = "reference"  # with face_selector="reference": a portrait or an identity embedding


class EnhancerParams(FaceSelection):
    """Face selection (`face_selector`, `face_index`) plus the restoration and upscaling settings."""
    model_config = ConfigDict(extra="forbid")
    engine: REGISTRY.name_field = REGISTRY.default
    scale: Literal[1, 2, 4] = 1
    blend: float = Field(0.8, ge=0.0, le=1.0, description="weight of the restored face over the input")
    pre_blur_sigma: float = Field(DEFAULT_PRE_BLUR_SIGMA, ge=0.0, le=8.0,
                                  description="Gaussian sigma before restoring, in pixels of a 512-px aligned face")
    restore: Literal["auto", "full"] = Field("auto", description=(
        "auto: restore each face in proportion to its measured degradation (a sharp face is left as it is); "
        "full: restore every selected face at `blend`"))


CONTRACT = StageContract(name="enhancer", params_model=EnhancerParams, engines=REGISTRY,
                         extra_inputs=(REFERENCE_INPUT,))
