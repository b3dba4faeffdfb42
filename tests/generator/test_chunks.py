"""A casting split into chunks (one generator request per chunk, `first_index` naming the first candidate)
makes byte for byte what the whole casting in one request makes: the same artifacts under the same
names, the same seeds, near-faces, category steering and truncation for every candidate."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from services.gateway.domain.castings import chunk_params, chunk_plan
from services.generator.casting import Direction, save_direction
from services.generator.engines import load_engine
from services.generator.stage import STAGE, run_batch
from shared.stage import StageInputs
from tests.generator.conftest import SMALL_NAME

BASE = {"engine": "stylegan2", "weights": SMALL_NAME}


def whole_and_chunks(ctx, params: dict, inputs: StageInputs):
    """The single-request result, and the chunks' outputs merged (as the gateway collects them)."""
    whole = STAGE.run(STAGE.parse_params(BASE | params), inputs, ctx)
    count = len(params["seeds"])
    artifacts, report_candidates = {}, []
    for first, n in chunk_plan(count):
        chunk = STAGE.run(STAGE.parse_params(chunk_params(BASE | params, first, n)), inputs, ctx)
        assert not set(chunk.artifacts) & set(artifacts), "chunks must not overwrite each other's candidates"
        artifacts.update(chunk.artifacts)
        report_candidates += chunk.report["candidates"]
        for key in ("engine", "truncation", "categories", "near", "spread", "mix", "weights_record"):
            assert chunk.report[key] == whole.report[key], key
    return whole, artifacts, report_candidates


def test_chunks_equal_the_whole_casting_with_two_near_faces_a_category_and_truncation(ctx):
    engine = load_engine("stylegan2", SMALL_NAME, ctx.models)
    direction = np.random.default_rng(3).normal(size=engine.latent_dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    save_direction(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim,
                   Direction("elegant", direction, 2.0, "made by the test"))
    a = STAGE.run(STAGE.parse_params(BASE | {"seeds": [1]}), StageInputs(image=None), ctx).artifacts["latent-0"]
    b = STAGE.run(STAGE.parse_params(BASE | {"seeds": [2]}), StageInputs(image=None), ctx).artifacts["latent-0"]
    inputs = StageInputs(image=None, extras={"near-0": a, "near-1": b})
    params = {"seeds": list(range(40, 49)), "truncation": 0.55, "category": "elegant", "strength": 1.5,
              "spread": 0.4}
    whole, artifacts, report_candidates = whole_and_chunks(ctx, params, inputs)
    assert len(chunk_plan(9)) == 3  # 1 + 4 + 4: three requests
    assert sorted(artifacts) == sorted(whole.artifacts)
    for name, value in whole.artifacts.items():
        assert value.tobytes() == artifacts[name].tobytes(), name
    assert report_candidates == whole.report["candidates"]
    # the near-faces alternate by casting-wide index, not by position in the chunk
    assert [c["anchor"] for c in report_candidates] == ["near-0", "near-1"] * 4 + ["near-0"]
    assert [c["seed"] for c in report_candidates] == params["seeds"]
    assert [c["artifact"] for c in report_candidates] == [f"candidate-{i}" for i in range(9)]


def test_chunks_equal_the_whole_casting_when_batched_with_other_requests(ctx):
    params = {"seeds": [5, 6, 7, 8, 9], "truncation": 0.8}
    whole = STAGE.run(STAGE.parse_params(BASE | params), StageInputs(image=None), ctx)
    items = [(STAGE.parse_params(chunk_params(BASE | params, first, n)), StageInputs(image=None))
             for first, n in chunk_plan(5)]
    outputs = run_batch(items, ctx)  # the worker may batch chunks of several castings into one call
    merged = {name: value for output in outputs for name, value in output.artifacts.items()}
    assert sorted(merged) == sorted(whole.artifacts)
    for name, value in whole.artifacts.items():
        assert value.tobytes() == merged[name].tobytes(), name


def test_random_chunks_report_their_own_seeds_under_casting_wide_names(ctx):
    chunk = STAGE.run(STAGE.parse_params(BASE | {"n": 3, "first_index": 5}), StageInputs(image=None), ctx)
    assert sorted(chunk.artifacts) == ["candidate-5", "candidate-6", "candidate-7",
                                       "latent-5", "latent-6", "latent-7"]
    assert [c["index"] for c in chunk.report["candidates"]] == [5, 6, 7]
    assert chunk.report["first_index"] == 5
    for c in chunk.report["candidates"]:  # each reported seed makes that face again
        again = STAGE.run(STAGE.parse_params(BASE | {"seeds": [c["seed"]]}), StageInputs(image=None), ctx)
        assert again.artifacts["candidate-0"].tobytes() == chunk.artifacts[c["artifact"]].tobytes()


@pytest.mark.parametrize("raw, message", [
    ({"n": 4, "first_index": 29}, "candidates 29-32 requested; a casting has at most 32"),
    ({"seeds": [1], "first_index": 32}, "candidates 32-32 requested"),
    ({"n": 1, "first_index": -1}, "greater than or equal to 0"),
])
def test_chunks_past_the_casting_limit_are_refused(raw, message):
    with pytest.raises(ValidationError, match=message):
        STAGE.parse_params(raw)
