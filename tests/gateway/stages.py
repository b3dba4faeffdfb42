"""A fast stand-in for the generator with the real parameter model (so the gateway's validation and
preflight are the real ones): candidates are the astronaut's face with a seeded tint (a face must be
detectable for a candidate to become a virtual model), latents seeded vectors. `WARN` passes the photo
through and reports two warnings, as the swapper's realism checks do."""
from __future__ import annotations

import cv2
import numpy as np
from skimage import data as skdata

from services.generator.engines.demo import LATENT_DIM
from services.generator.stage import STAGE as REAL_GENERATOR
from shared.stage import StageDefinition, StageOutput
from tests.backbone.stages import TEST_ENGINE, NoParams


# 224 px: the face (~79 px wide) clears the swapper's source minimum (64 px), which accepting a candidate checks
PORTRAIT = cv2.resize(np.ascontiguousarray(skdata.astronaut()[0:256, 96:352, ::-1]), (224, 224)).astype(np.int16)


def fake_generate(params, inputs, ctx) -> StageOutput:
    first = 1000 + params.first_index
    seeds = params.seeds if params.seeds is not None else list(range(first, first + params.n))
    artifacts = {}
    for i, seed in enumerate(seeds, start=params.first_index):
        rng = np.random.default_rng(seed)
        artifacts[f"candidate-{i}"] = np.clip(PORTRAIT + rng.integers(-20, 21, 3), 0, 255).astype(np.uint8)
        artifacts[f"latent-{i}"] = rng.standard_normal(LATENT_DIM).astype(np.float32)
    report = {**REAL_GENERATOR.engines[params.engine].public(), "weights_record": {"sha256": "ab" * 32},
              "candidates": [{"artifact": f"candidate-{i}", "latent": f"latent-{i}", "seed": s}
                             for i, s in enumerate(seeds, start=params.first_index)], "near": sorted(inputs.extras)}
    return StageOutput(image=None, report=report, artifacts=artifacts)


FAKE_GENERATOR = StageDefinition(name="generator", params_model=REAL_GENERATOR.params_model, run=fake_generate,
                                 engines=REAL_GENERATOR.engines, extra_inputs=REAL_GENERATOR.extra_inputs)


# ---- a stage that succeeds with warnings (the realism checks' "never a silent bad result") ----------------
WARNINGS = [
    {"code": "soft-face", "message": "the face is softer than the photo around it (sharpness 0.42×)", "face": 0},
    {"code": "low-source-detail", "message": "the virtual model's portrait has little detail for faces this large",
     "face": None},
]


def warn(params, inputs, ctx) -> StageOutput:
    return StageOutput(image=inputs.image.pixels, report={**TEST_ENGINE["test"].public(), "warnings": WARNINGS})


WARN = StageDefinition(name="warn", params_model=NoParams, run=warn, engines=TEST_ENGINE)
