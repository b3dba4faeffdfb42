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
from services.swapper.contract import PREPARE, PREPARED_SOURCE
from services.swapper.stage import STAGE as REAL_SWAPPER
from shared.stage import StageDefinition, StageOutput
from tests.backbone.stages import TEST_ENGINE, NoParams


# 352 px: the face (~123 px wide) clears the swapper's source minimum (64 px), which accepting a candidate checks,
# and needs no super-resolution (below 112 px), so the swapper's prepare step at accept stays quick
PORTRAIT = cv2.resize(np.ascontiguousarray(skdata.astronaut()[0:256, 96:352, ::-1]), (352, 352)).astype(np.int16)


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


# the real generator's other steps (a category's `fit`) run as they are
FAKE_GENERATOR = StageDefinition(name="generator", params_model=REAL_GENERATOR.params_model, run=fake_generate,
                                 engines=REAL_GENERATOR.engines, extra_inputs=REAL_GENERATOR.extra_inputs,
                                 actions=REAL_GENERATOR.actions)


# ---- a stage that succeeds with warnings (the realism checks' "never a silent bad result") ----------------
WARNINGS = [
    {"code": "soft-face", "message": "the face is softer than the photo around it (sharpness 0.42×)", "face": 0},
    {"code": "low-source-detail", "message": "the virtual model's portrait has little detail for faces this large",
     "face": None},
]


def warn(params, inputs, ctx) -> StageOutput:
    return StageOutput(image=inputs.image.pixels, report={**TEST_ENGINE["test"].public(), "warnings": WARNINGS})


WARN = StageDefinition(name="warn", params_model=NoParams, run=warn, engines=TEST_ENGINE)


# ---- the real swapper, except that its prepare step answers as for a face ----------------------------------
def prepare_as_for_a_face(params, inputs, ctx) -> StageOutput:
    """For candidates drawn by random test pipelines (no face in them): a prepared source of no use to a swap
    and a zero identity embedding, so that accepting such a candidate can be tested."""
    return StageOutput(image=None, report={"stage": "swapper", "step": PREPARE, "embedding": [0.0] * 128},
                       artifacts={PREPARED_SOURCE: {"format": np.array(0)}})


FACE_PASSING_SWAPPER = StageDefinition.implementing(REAL_SWAPPER.contract, run=REAL_SWAPPER.run,
                                                    run_batch=REAL_SWAPPER.run_batch,
                                                    actions={PREPARE: prepare_as_for_a_face})
