"""The generator stage with a small StyleGAN2 checkpoint built here in the published layout.

The checkpoint goes through `ModelStore.import_file` and the same loading path as a real
`stylegan2-ffhq-config-f.pt`: hash check, key/shape check, licence record in every report.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from services.generator import casting
from services.generator.casting import Direction, fit_direction, save_direction
from services.generator.engines import load_engine
from services.generator.contract import preflight
from services.generator.stage import STAGE
from shared.errors import EngineUnavailable, InvalidInput, WeightsMismatch
from shared.settings import Settings
from shared.stage import StageContext, StageInputs
from shared.weights import file_sha256
from tests.generator.conftest import SMALL_LICENCE, SMALL_NAME, import_checkpoint, small_checkpoint

NO_INPUTS = StageInputs(image=None)


def cast(ctx, inputs=NO_INPUTS, **params):
    return STAGE.run(STAGE.parse_params({"engine": "stylegan2", "weights": SMALL_NAME} | params), inputs, ctx)


def near(**latents) -> StageInputs:
    return StageInputs(image=None, extras={name.replace("_", "-"): value for name, value in latents.items()})


# ---- parameters -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, message", [
    ({"n": 33}, "33 candidates requested; the maximum per request is 32"),
    ({"seeds": list(range(40))}, "the maximum per request is 32"),
    ({"n": 2, "seeds": [1]}, "either `seeds`"),
    ({}, "either `seeds`"),
    ({"n": 2, "engine": "biggan"}, "'stylegan2' or 'demo'"),
    ({"n": 2, "truncation": 1.5}, "less than or equal to 1"),
    ({"n": 2, "truncation": -0.1}, "greater than or equal to 0"),
    ({"n": 2, "strength": 2.0}, "name the category too"),
    ({"n": 2, "category": "has space"}, "should match pattern"),
    ({"n": 2, "spread": 2}, "less than or equal to 1"),
    ({"seeds": [-1]}, "greater than or equal to 0"),
    ({"seeds": [2 ** 32]}, "less than or equal to 4294967295"),
    ({"n": 2, "colour": "red"}, "Extra inputs are not permitted"),
])
def test_bad_parameters_are_refused_before_anything_runs(raw, message):
    with pytest.raises(ValidationError, match=message):
        STAGE.parse_params(raw)


# ---- loading through the model store --------------------------------------------------------------------
def test_small_checkpoint_loads_through_the_model_store_with_its_hash_and_licence(ctx, small_store):
    record = small_store.records()[SMALL_NAME]
    assert record.sha256 == file_sha256(small_store.root / record.file)
    result = cast(ctx, seeds=[1, 2])
    report = result.report
    assert report["engine"] == "stylegan2" and report["demo"] is False
    assert report["weights_record"]["name"] == SMALL_NAME
    assert report["weights_record"]["sha256"] == record.sha256
    assert report["weights_record"]["licence"] == SMALL_LICENCE
    assert report["commercial_use"] is True  # as recorded on import for these weights
    assert "Nvidia Source Code License-NC" in report["licence"]  # the engine says what FFHQ weights carry
    assert report["seeds"] == [1, 2] and report["resolution"] == 32 and report["latent_dim"] == 32
    assert sorted(result.artifacts) == ["candidate-0", "candidate-1", "latent-0", "latent-1"]
    assert result.artifacts["candidate-0"].shape == (32, 32, 3) and result.artifacts["candidate-0"].dtype == np.uint8
    assert result.artifacts["latent-0"].shape == (32,) and result.artifacts["latent-0"].dtype == np.float32
    json.dumps(report)  # the report travels as JSON


def test_missing_weights_make_the_engine_unavailable_with_a_clear_message(store, tmp_path):
    with pytest.raises(EngineUnavailable, match="'stylegan2-ffhq-config-f' are not in the model store"):
        load_engine("stylegan2", None, store)
    with pytest.raises(InvalidInput, match="unknown generator engine 'biggan'"):
        load_engine("biggan", None, store)


def test_a_file_changed_after_import_is_refused(small_store):
    record = small_store.records()[SMALL_NAME]
    path = small_store.root / record.file
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(WeightsMismatch, match="has sha256"):
        load_engine("stylegan2", SMALL_NAME, small_store)


def _broken(edit) -> dict:
    checkpoint = small_checkpoint()
    edit(checkpoint["g_ema"])
    return checkpoint


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("convs.1.noise.weight"), r"1 missing keys \(first: convs.1.noise.weight\)"),
    (lambda s: [s.pop(k) for k in ("convs.3.activate.bias", "to_rgbs.1.conv.weight")],
     r"2 missing keys \(first: convs.3.activate.bias, to_rgbs.1.conv.weight\)"),
    (lambda s: s.update({"convs.1.extra": torch.zeros(1)}), r"1 unexpected keys \(first: convs.1.extra\)"),
    (lambda s: s.update({"to_rgb1.bias": torch.zeros(1, 4, 1, 1)}),
     r"1 wrong shapes \(first: to_rgb1.bias: \(1, 4, 1, 1\) != \(1, 3, 1, 1\)\)"),
    (lambda s: s.pop("style.1.weight"), "key 'style.1.weight' is missing"),
])
def test_checkpoints_with_other_keys_or_shapes_name_the_first_mismatches(store, tmp_path, edit, message):
    import_checkpoint(store, _broken(edit), "broken", tmp_path)
    with pytest.raises(WeightsMismatch, match=message):
        load_engine("stylegan2", "broken", store)


@pytest.mark.parametrize("checkpoint, message", [
    (small_checkpoint()["g_ema"], "expected a converted checkpoint"),
    ({"g_ema": small_checkpoint()["g_ema"], "latent_avg": torch.zeros(7)}, "latent_avg has 7 values"),
])
def test_checkpoints_not_in_the_converted_layout_are_refused(store, tmp_path, checkpoint, message):
    import_checkpoint(store, checkpoint, "odd", tmp_path)
    with pytest.raises(WeightsMismatch, match=message):
        load_engine("stylegan2", "odd", store)


# ---- determinism -----------------------------------------------------------------------------------------
def test_same_seed_same_bytes_whatever_the_batch(ctx):
    first = cast(ctx, seeds=[3, 4, 5])
    again = cast(ctx, seeds=[3, 4, 5])
    for name, value in first.artifacts.items():
        assert value.tobytes() == again.artifacts[name].tobytes(), name
    alone = cast(ctx, seeds=[4])
    assert alone.artifacts["candidate-0"].tobytes() == first.artifacts["candidate-1"].tobytes()
    assert alone.artifacts["latent-0"].tobytes() == first.artifacts["latent-1"].tobytes()


def test_different_seeds_give_different_faces(ctx):
    result = cast(ctx, seeds=[10, 11, 12], truncation=1.0)
    latents = [result.artifacts[f"latent-{i}"] for i in range(3)]
    images = [result.artifacts[f"candidate-{i}"].astype(np.float32) for i in range(3)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(latents[i] - latents[j]).max() > 1e-3
            assert np.abs(images[i] - images[j]).mean() > 1.0


def test_same_seed_same_bytes_in_another_process(small_store):
    """Through the real acceptance check, which refuses the noise the test weights draw: its replacements are
    made from the same seeds in both processes too."""
    ours = cast(StageContext(settings=Settings(), models=small_store), seeds=[21])
    assert ours.report["candidates"][0]["replaced"] == 6
    script = (
        "import hashlib, sys, torch; torch.set_num_threads(2)\n"
        "from pathlib import Path\n"
        "from services.generator.stage import STAGE\n"
        "from shared.settings import Settings\n"
        "from shared.stage import StageContext, StageInputs\n"
        "from shared.weights import ModelStore\n"
        "ctx = StageContext(settings=Settings(), models=ModelStore(root=Path(sys.argv[1])))\n"
        f"params = STAGE.parse_params({{'engine': 'stylegan2', 'weights': '{SMALL_NAME}', 'seeds': [21]}})\n"
        "out = STAGE.run(params, StageInputs(image=None), ctx).artifacts\n"
        "print(hashlib.sha256(out['candidate-0'].tobytes() + out['latent-0'].tobytes()).hexdigest())\n"
    )
    theirs = subprocess.run([sys.executable, "-c", script, str(small_store.root)], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    expected = hashlib.sha256(ours.artifacts["candidate-0"].tobytes() + ours.artifacts["latent-0"].tobytes())
    assert theirs == expected.hexdigest()


def test_truncation_zero_gives_the_average_face(ctx):
    result = cast(ctx, seeds=[1, 2], truncation=0.0)
    assert result.artifacts["candidate-0"].tobytes() == result.artifacts["candidate-1"].tobytes()
    engine = load_engine("stylegan2", SMALL_NAME, ctx.models)
    np.testing.assert_allclose(result.artifacts["latent-0"], engine.center(), atol=1e-6)


def test_random_n_reports_its_seeds_so_faces_can_be_made_again(ctx):
    result = cast(ctx, n=3)
    seeds = result.report["seeds"]
    assert len(seeds) == 3 and [c["seed"] for c in result.report["candidates"]] == seeds
    again = cast(ctx, seeds=seeds)
    for i in range(3):
        assert result.artifacts[f"candidate-{i}"].tobytes() == again.artifacts[f"candidate-{i}"].tobytes()


def test_batched_requests_equal_single_requests(ctx):
    params = [STAGE.parse_params({"engine": "stylegan2", "weights": SMALL_NAME, "seeds": s}) for s in ([1, 2], [3])]
    batched = STAGE.run_batch([(p, NO_INPUTS) for p in params], ctx)
    for p, out in zip(params, batched):
        single = STAGE.run(p, NO_INPUTS, ctx)
        assert single.report["seeds"] == out.report["seeds"]
        assert all(single.artifacts[k].tobytes() == out.artifacts[k].tobytes() for k in single.artifacts)


# ---- "more like this" ----------------------------------------------------------------------------------
def test_a_chosen_latent_renders_the_same_portrait_again(ctx):
    """What a virtual model relies on: its stored latent makes its portrait again, byte for byte."""
    original = cast(ctx, seeds=[8])
    again = cast(ctx, near(near_0=original.artifacts["latent-0"]), seeds=[99], spread=0.0)
    assert again.artifacts["candidate-0"].tobytes() == original.artifacts["candidate-0"].tobytes()
    assert again.report["candidates"][0]["anchor"] == "near-0"


def test_near_candidates_stay_closer_to_the_chosen_face_than_random_ones(ctx):
    chosen = cast(ctx, seeds=[8]).artifacts["latent-0"]
    seeds = list(range(30, 38))
    close = cast(ctx, near(near_0=chosen), seeds=seeds, spread=0.3)
    free = cast(ctx, seeds=seeds)
    close_distance = np.mean([np.linalg.norm(close.artifacts[f"latent-{i}"] - chosen) for i in range(8)])
    free_distance = np.mean([np.linalg.norm(free.artifacts[f"latent-{i}"] - chosen) for i in range(8)])
    assert close_distance < 0.5 * free_distance
    assert all(c["anchor"] == "near-0" for c in close.report["candidates"])


def test_two_chosen_faces_are_alternated_or_mixed(ctx):
    a = cast(ctx, seeds=[1]).artifacts["latent-0"]
    b = cast(ctx, seeds=[2]).artifacts["latent-0"]
    both = cast(ctx, near(near_0=a, near_1=b), seeds=[5, 6, 7], spread=0.0)
    assert [c["anchor"] for c in both.report["candidates"]] == ["near-0", "near-1", "near-0"]
    np.testing.assert_array_equal(both.artifacts["latent-1"], b)
    for weight, expected in ((0.0, a), (1.0, b), (0.5, (a + b) / 2)):
        mixed = cast(ctx, near(near_0=a, near_1=b), seeds=[5], spread=0.0, mix=weight)
        np.testing.assert_allclose(mixed.artifacts["latent-0"], expected, atol=1e-6)
        assert mixed.report["near"] == [f"mix(near-0,near-1,{weight:g})"]


@pytest.mark.parametrize("extras, params, message", [
    ({"near-0": np.zeros(100, np.float32)}, {}, "near-0 has 100 values; stylegan2 latents have 32"),
    ({"near-0": np.full(32, np.nan, np.float32)}, {}, "NaN"),
    ({"source": np.zeros(32, np.float32)}, {}, "only near-<i> inputs"),
    ({"near-0": np.zeros(32, np.float32)}, {"mix": 0.5}, "give exactly near-0 and near-1 \\(got 1\\)"),
])
def test_bad_near_latents_are_refused(ctx, extras, params, message):
    with pytest.raises(InvalidInput, match=message):
        cast(ctx, StageInputs(image=None, extras=extras), seeds=[1], **params)


# ---- categories -----------------------------------------------------------------------------------------
def _teach_planted(ctx, name: str) -> np.ndarray:
    """Plant an attribute in W, let a "seller" mark the faces that show it most / least, fit and save."""
    engine = load_engine("stylegan2", SMALL_NAME, ctx.models)
    latents = engine.seed_latents(list(range(1000, 3000)), truncation=1.0)
    rng = np.random.default_rng(7)
    planted = rng.normal(size=engine.latent_dim)
    planted /= np.linalg.norm(planted)
    order = np.argsort(latents @ planted)
    fit = fit_direction(latents[order[-200:]], latents[order[:200]])
    cosine = float(fit.vector @ planted)
    print(f"planted direction in the small checkpoint's W: cosine {cosine:.3f}")
    assert cosine >= 0.9
    save_direction(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim,
                   Direction(name, fit.vector, fit.default_strength, "planted by the test"))
    return planted


def test_a_taught_category_steers_candidates_monotonically(ctx):
    planted = _teach_planted(ctx, "elegant")
    scores, images = [], []
    for strength in (-4.0, -2.0, 0.0, 2.0, 4.0):
        result = cast(ctx, seeds=[77], category="elegant", strength=strength)
        assert result.report["categories"] == [{"category": "elegant", "strength": strength}]
        scores.append(float(result.artifacts["latent-0"] @ planted))
        images.append(result.artifacts["candidate-0"])
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    assert images[0].tobytes() != images[-1].tobytes()
    default = cast(ctx, seeds=[77], category="elegant")
    assert default.report["categories"][0]["strength"] > 0


def test_a_brief_picks_categories_by_keyword(ctx):
    _teach_planted(ctx, "fresh")
    result = cast(ctx, seeds=[1], brief="청량한 여름, cool")
    assert result.report["brief"]["matched"] == [{"category": "fresh", "keyword": "청량한"}]
    assert [c["category"] for c in result.report["categories"]] == ["fresh"]
    with pytest.raises(InvalidInput, match="names no known category"):
        cast(ctx, seeds=[1], brief="something else entirely")
    with pytest.raises(InvalidInput, match="unknown category 'elegant'.*known categories: fresh"):
        cast(ctx, seeds=[1], brief="우아한")


def test_unknown_category_is_refused_with_the_known_ones(ctx):
    with pytest.raises(InvalidInput, match="unknown category 'elegant' for these weights; known categories: none yet"):
        cast(ctx, seeds=[1], category="elegant")


def test_a_direction_of_the_wrong_dimension_cannot_be_saved(ctx):
    engine = load_engine("stylegan2", SMALL_NAME, ctx.models)
    with pytest.raises(InvalidInput, match="dimension 512; this engine's latents have dimension 32"):
        save_direction(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim,
                       Direction("elegant", np.ones(512), 1.0))


# ---- gateway pre-flight ----------------------------------------------------------------------------------
def test_preflight_checks_weights_categories_and_mix_without_loading_a_network(ctx, store):
    params = STAGE.parse_params({"engine": "stylegan2", "weights": SMALL_NAME, "n": 2})
    preflight(params, 0, ctx.models)
    with pytest.raises(EngineUnavailable, match="stylegan2-ffhq-config-f"):
        preflight(STAGE.parse_params({"engine": "stylegan2", "n": 2}), 0, store)  # demo is the default
    with pytest.raises(InvalidInput, match="unknown category 'elegant'"):
        preflight(STAGE.parse_params({"engine": "stylegan2", "weights": SMALL_NAME, "n": 2, "category": "elegant"}),
                  0, ctx.models)
    with pytest.raises(InvalidInput, match="exactly two near-latents \\(got 1\\)"):
        preflight(STAGE.parse_params({"engine": "demo", "n": 2, "mix": 0.5}), 1, ctx.models)
    with pytest.raises(InvalidInput, match="packaged weights"):
        preflight(STAGE.parse_params({"engine": "demo", "n": 2, "weights": "other"}), 0, ctx.models)
    _teach_planted(ctx, "elegant")
    preflight(STAGE.parse_params({"engine": "stylegan2", "weights": SMALL_NAME, "n": 2, "brief": "elegant"}),
              0, ctx.models)
    assert casting.load_directions(ctx.models, SMALL_NAME, ctx.models.records()[SMALL_NAME].sha256).names() == \
        ["elegant"]
