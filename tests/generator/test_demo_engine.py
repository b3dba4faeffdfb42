"""The demo engine end to end: packaged DCGAN weights (hash-checked), Real-ESRGAN upscaling, labels.

Each face costs one Real-ESRGAN pass (seconds on 2 CPU threads), so one module-wide batch serves
every check.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from services.generator.engines.demo import DCGAN_WEIGHTS
from services.generator.stage import STAGE
from shared.faces import identity_similarity
from shared.settings import Settings
from shared.stage import StageContext, StageInputs
from shared.weights import ModelStore

SEEDS = [11, 12, 13, 14]


@pytest.fixture(scope="module")
def demo_ctx(tmp_path_factory) -> StageContext:
    return StageContext(settings=Settings(), models=ModelStore(root=tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="module")
def batch(demo_ctx):
    torch.set_num_threads(2)
    return STAGE.run(STAGE.parse_params({"engine": "demo", "seeds": SEEDS}), StageInputs(image=None), demo_ctx)


@pytest.mark.slow
def test_demo_portraits_are_upscaled_and_labelled_non_commercial(batch):
    report = batch.report
    assert report["engine"] == "demo" and report["demo"] is True
    assert report["commercial_use"] is False and report["weights_record"]["commercial_use"] is False
    assert "non-commercial" in report["licence"] and "DigiFace-1M" in report["licence"]
    assert report["weights_record"]["sha256"] == DCGAN_WEIGHTS.sha256
    assert {"realesrgan-x4plus.param", "realesrgan-x4plus.bin"} <= set(report["weights"])
    for i in range(len(SEEDS)):
        portrait = batch.artifacts[f"candidate-{i}"]
        assert portrait.shape == (256, 256, 3) and portrait.dtype == np.uint8
        assert portrait.std() > 10  # a picture, not a flat fill
        assert batch.artifacts[f"latent-{i}"].shape == (100,)


@pytest.mark.slow
def test_different_seeds_are_different_people(batch):
    portraits = [batch.artifacts[f"candidate-{i}"] for i in range(len(SEEDS))]
    cosines = [identity_similarity(a, b) for a, b in itertools.combinations(portraits, 2)]
    print("demo SFace cosines between seeds:", [round(c, 3) for c in cosines])
    assert np.mean(cosines) < 0.5
    mirrored = identity_similarity(portraits[0], np.ascontiguousarray(portraits[0][:, ::-1]))
    assert mirrored > 0.5  # the metric does recognise the same face


@pytest.mark.slow
def test_a_seed_alone_gives_the_same_bytes_as_in_a_batch(batch, demo_ctx):
    alone = STAGE.run(STAGE.parse_params({"engine": "demo", "seeds": [SEEDS[2]]}), StageInputs(image=None), demo_ctx)
    assert alone.artifacts["candidate-0"].tobytes() == batch.artifacts["candidate-2"].tobytes()
    assert alone.artifacts["latent-0"].tobytes() == batch.artifacts["latent-2"].tobytes()


REFUSED_SEEDS = {708452615: "no face was found", 1000: "glasses"}  # as drawn (ψ 0.7), accepting would refuse them


@pytest.mark.slow
def test_a_face_that_accepting_would_refuse_is_replaced_from_the_next_seed(demo_ctx):
    from services.generator.candidate_check import replacement_seed
    from services.swapper.faces import prepare_source

    made = STAGE.run(STAGE.parse_params({"engine": "demo", "seeds": [*REFUSED_SEEDS, SEEDS[0]]}),
                     StageInputs(image=None), demo_ctx)
    *replaced, kept = made.report["candidates"]
    for candidate, (seed, reason) in zip(replaced, REFUSED_SEEDS.items()):
        assert candidate["requested_seed"] == seed and candidate["replaced"] >= 1
        assert candidate["rejected"][0]["seed"] == seed and reason in candidate["rejected"][0]["reasons"][0]
        assert candidate["seed"] == replacement_seed(seed, candidate["replaced"]) and candidate["check"]["passed"]
        prepare_source(made.artifacts[candidate["artifact"]])  # what accepting it runs: no refusal
    assert kept["seed"] == kept["requested_seed"] == SEEDS[0] and kept["replaced"] == 0
    assert made.report["replacements"] == sum(c["replaced"] for c in replaced) and made.report["failed_checks"] == 0
    # made again from the seed it reports, the face is the same
    again = STAGE.run(STAGE.parse_params({"engine": "demo", "seeds": [replaced[0]["seed"]]}), StageInputs(image=None),
                      demo_ctx)
    assert again.artifacts["candidate-0"].tobytes() == made.artifacts["candidate-0"].tobytes()
