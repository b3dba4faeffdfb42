"""The community ONNX swappers on tiny models: what reaches the model, what comes back, the identity paths."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.swapper.engines.onnx_swap import ENGINE_CLASSES, model_crop
from shared.engines import CPU
from shared.errors import EngineUnavailable, WeightsMismatch
from shared.faces import Identity
from shared.onnx_catalog import ARCFACE, CARDS, CROSSFACE_GHOST, CROSSFACE_SIMSWAP, cards
from tests.onnx import tiny
from tests.onnx.conftest import source_face, target_face, uniform

SWAPPERS = [card.name for card in cards("swapper")]
# the table: target normalisation per family, as (mean, std) on RGB in [0, 1]
NORMALISATION = {
    "inswapper": ((0, 0, 0), (1, 1, 1)), "hyperswap": ((0.5,) * 3, (0.5,) * 3), "ghost": ((0.5,) * 3, (0.5,) * 3),
    "blendswap": ((0, 0, 0), (1, 1, 1)), "uniface": ((0.5,) * 3, (0.5,) * 3),
}
TARGET_BGR = (40, 120, 200)
SOURCE_BGR = (90, 60, 150)
OUT_RGB = np.array([0.2, 0.5, 0.8])
W = tiny.RNG.normal(size=(3, 512)).astype(np.float32)
B = tiny.RNG.normal(size=512).astype(np.float32)
EMAP = tiny.RNG.normal(size=(512, 512)).astype(np.float32)
CONVERTER = tiny.RNG.normal(size=(512, 512)).astype(np.float32) / 20


def _normalisation(card):
    if card.name == "simswap_256":
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    if card.name == "simswap_unofficial_512":
        return (0, 0, 0), (1, 1, 1)
    return NORMALISATION[card.family]


def _expected_embedding(bgr) -> np.ndarray:
    """The tiny recogniser's output on a uniform source: RGB x/127.5 − 1, channel means @ W + B."""
    rgb = np.array(bgr[::-1], np.float64) / 127.5 - 1.0
    return (rgb @ W + B).astype(np.float32)


def _install(store, name, *, color=True, fp16=False, batch="N", size=None):
    """Import a tiny swapper `name` and everything its card needs; returns the loaded engine."""
    card = CARDS[name]
    out = None
    if color:
        out = (OUT_RGB - np.array(card.mean)) / np.array(card.std) if card.output_normalised else OUT_RGB
    tiny.swapper(store.path(name), card, color=out, batch=batch, fp16=fp16, size=size,
                 emap=EMAP if card.identity == "emap" else None)
    store.add(name)
    for need in card.needs:
        if need == ARCFACE:
            tiny.recogniser(store.path(need), W, B)
        else:
            tiny.converter(store.path(need), CONVERTER)
        store.add(need)
    return ENGINE_CLASSES[name].load(store.models, CPU)


def _spy(monkeypatch, model):
    calls = []
    original = model.run

    def run(feeds):
        calls.append({k: np.array(v) for k, v in feeds.items()})
        return original(feeds)

    monkeypatch.setattr(model, "run", run)
    return calls


@pytest.mark.parametrize("name", SWAPPERS)
def test_the_tensor_that_reaches_the_model_and_the_face_that_comes_back(store, monkeypatch, name):
    card = CARDS[name]
    engine = _install(store, name)
    calls = _spy(monkeypatch, engine.swapper)
    target = target_face(uniform(TARGET_BGR), engine.template_for(target_face(uniform(0), "ffhq512").face))
    [result] = engine.run_batch([(target, source_face(uniform(SOURCE_BGR)))])

    [feeds] = calls
    mean, std = _normalisation(card)
    expected = (np.array(TARGET_BGR[::-1]) / 255.0 - mean) / std
    assert feeds["target"].shape == (1, 3, card.size, card.size) and feeds["target"].dtype == np.float32
    np.testing.assert_allclose(feeds["target"][0].mean(axis=(1, 2)), expected, atol=1e-5)
    np.testing.assert_allclose(feeds["target"][0].std(axis=(1, 2)), 0, atol=1e-5)  # the crop was uniform
    # the model's constant colour lands, in BGR, wherever the model's crop covers the target crop
    inside = result.valid > 0.5
    assert 0.1 < inside.mean() < 1.0 and result.valid[0, 0] == 0
    color = np.round(OUT_RGB[::-1] * 255)
    assert np.abs(result.crop[inside].astype(float) - color).max() <= 1
    assert result.crop.shape == target.aligned.crop.shape


@pytest.mark.parametrize("name", ["hyperswap_1a_256", "inswapper_128"])
def test_paste_back_returns_the_target_where_the_model_returns_its_input(store, name):
    """An identity model: the round trip target crop → model crop → back is the target, up to resampling."""
    engine = _install(store, name, color=False)
    yy, xx = np.mgrid[:640, :640]
    image = np.dstack([(xx * 0.3) % 256, (yy * 0.35) % 256, ((xx + yy) * 0.2) % 256]).astype(np.uint8)
    target = target_face(image, "ffhq512")
    [result] = engine.run_batch([(target, source_face(uniform(SOURCE_BGR)))])
    inner = np.zeros_like(result.valid, bool)
    inner[8:-8, 8:-8] = True
    inside = (result.valid > 0.5) & inner
    # erode by a few pixels: the model crop's own border is replicated
    inside = cv2.erode(inside.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    diff = np.abs(result.crop[inside].astype(float) - target.aligned.crop[inside].astype(float))
    assert diff.mean() < 2.5 if name == "hyperswap_1a_256" else diff.mean() < 6  # 128 px loses more detail
    crop, _ = model_crop(target, CARDS[name])
    assert crop.shape == (CARDS[name].size, CARDS[name].size, 3)


@pytest.mark.parametrize("name", ["inswapper_128", "hyperswap_1b_256", "ghost_2_256", "simswap_256",
                                  "simswap_unofficial_512"])
def test_embedding_paths(store, name):
    card = CARDS[name]
    engine = _install(store, name)
    e = _expected_embedding(SOURCE_BGR)
    expected = {
        "emap": e @ EMAP / np.linalg.norm(e),
        "normed": e / np.linalg.norm(e),
        "ghost": e @ CONVERTER,
        "simswap": (e @ CONVERTER) / np.linalg.norm(e @ CONVERTER),
    }[card.identity]
    feed = engine.source_feed([source_face(uniform(SOURCE_BGR))])
    np.testing.assert_allclose(feed, expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name, size", [("blendswap_256", 112), ("uniface_256", 256)])
def test_image_fed_sources(store, name, size):
    engine = _install(store, name)
    feed = engine.source_feed([source_face(uniform(SOURCE_BGR))])
    assert feed.shape == (3, size, size)
    np.testing.assert_allclose(feed.mean(axis=(1, 2)), np.array(SOURCE_BGR[::-1]) / 255.0, atol=1e-6)


def test_several_photos_are_averaged(store):
    engine = _install(store, "hyperswap_1a_256")
    photos = [source_face(uniform(bgr)) for bgr in ((90, 60, 150), (30, 200, 100))]
    identity = engine.identity(photos)
    embeddings = np.stack([_expected_embedding(bgr) for bgr in ((90, 60, 150), (30, 200, 100))])
    np.testing.assert_allclose(identity.embedding, embeddings.mean(0), atol=2e-4)
    normed = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    np.testing.assert_allclose(identity.embedding_norm, normed.mean(0), atol=2e-5)
    assert np.linalg.norm(identity.embedding_norm) < 1.0  # the mean of unit vectors, not re-normalised
    with pytest.raises(ValueError, match="norm 0"):
        Identity.average(np.zeros((1, 512)))


@pytest.mark.parametrize("batch, calls", [("N", 1), (1, 5)])
def test_batching_follows_the_batch_axis(store, monkeypatch, batch, calls):
    engine = _install(store, "hyperswap_1c_256", color=False, batch=batch)
    seen = []
    original = engine.swapper._call
    monkeypatch.setattr(engine.swapper, "_call", lambda feeds: seen.append(len(feeds["target"])) or original(feeds))
    images = [uniform((10 * i, 100, 200 - 10 * i)) for i in range(5)]
    pairs = [(target_face(image, "ffhq512"), source_face(uniform(SOURCE_BGR))) for image in images]
    results = engine.run_batch(pairs, None)
    assert len(seen) == calls and sum(seen) == 5
    for image, result in zip(images, results):
        centre = result.crop[256, 256].astype(int)
        assert np.abs(centre - image[0, 0]).max() <= 1  # each face got its own crop back, in order


def test_fp16_model_gets_half_floats_and_gives_float32(store, monkeypatch):
    engine = _install(store, "inswapper_128_fp16", fp16=True)
    assert engine.swapper.input_dtype("target") == np.float16
    seen = []
    original = engine.swapper._call
    monkeypatch.setattr(engine.swapper, "_call", lambda feeds: seen.append({k: v.dtype for k, v in feeds.items()})
                        or original(feeds))
    target = target_face(uniform(TARGET_BGR), "ffhq256")
    [result] = engine.run_batch([(target, source_face(uniform(SOURCE_BGR)))])
    assert seen == [{"target": np.float16, "source": np.float16}]
    inside = result.valid > 0.5
    assert np.abs(result.crop[inside].astype(float) - np.round(OUT_RGB[::-1] * 255)).max() <= 1


def test_wrong_signature_is_refused_naming_the_tensor(store):
    tiny.swapper(store.path("inswapper_128"), CARDS["inswapper_128"], color=OUT_RGB, size=64, emap=EMAP)
    store.add("inswapper_128")
    tiny.recogniser(store.path(ARCFACE), W, B)
    store.add(ARCFACE)
    with pytest.raises(WeightsMismatch, match=r"input 'target'.*\[N, 3, 64, 64\].*axis 2: 64 != 128"):
        ENGINE_CLASSES["inswapper_128"].load(store.models, CPU)


def test_recogniser_of_another_size_is_refused(store):
    _install(store, "hyperswap_1a_256")
    from onnx import TensorProto, helper
    tiny.save(store.path(ARCFACE), [helper.make_node("Identity", ["input"], ["out"])],
              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 128])],
              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 128])])
    store.add(ARCFACE)
    with pytest.raises(WeightsMismatch, match="arcface_w600k_r50.*rank 4"):
        ENGINE_CLASSES["hyperswap_1a_256"].load(store.models, CPU)


def test_a_changed_file_fails_its_hash(store):
    _install(store, "hyperswap_1a_256")
    record = store.models.records()["hyperswap_1a_256"]
    stored = store.models.root / record.file
    stored.write_bytes(stored.read_bytes() + b"\0")
    from shared.engines import WEIGHT_CACHE
    WEIGHT_CACHE.clear()
    with pytest.raises(WeightsMismatch, match="sha256"):
        ENGINE_CLASSES["hyperswap_1a_256"].load(store.models, CPU)


def test_missing_converter_and_missing_files_say_what_to_import(store):
    card = CARDS["ghost_1_256"]
    tiny.swapper(store.path(card.name), card, color=OUT_RGB)
    store.add(card.name)
    tiny.recogniser(store.path(ARCFACE), W, B)
    store.add(ARCFACE)
    with pytest.raises(EngineUnavailable, match=r"missing: crossface_ghost .*facecast models import crossface_ghost"):
        ENGINE_CLASSES["ghost_1_256"].load(store.models, CPU)
    with pytest.raises(EngineUnavailable) as info:
        ENGINE_CLASSES["simswap_256"].load(store.models, CPU)
    assert info.value.details["missing"] == ["simswap_256", CROSSFACE_SIMSWAP]
    assert "simswap_256.onnx, arcface_w600k_r50.onnx, crossface_simswap.onnx" in info.value.message
    assert CROSSFACE_GHOST in CARDS and all(CARDS[n].kind == "converter" for n in (CROSSFACE_GHOST, CROSSFACE_SIMSWAP))


def test_a_virtual_models_identity_is_computed_once_per_engine(store, monkeypatch):
    engine = _install(store, "ghost_1_256")
    calls = _spy(monkeypatch, engine.recogniser.model)
    converted = _spy(monkeypatch, engine.converter)
    target = target_face(uniform(TARGET_BGR), "ffhq256")
    for _ in range(3):  # three photos, each job with its own SourceFace of the same portrait
        engine.run_batch([(target, source_face(uniform(SOURCE_BGR)))])
    assert len(calls) == 1 and len(converted) == 1
    engine.run_batch([(target, source_face(uniform((5, 6, 7))))])  # another virtual model
    assert len(calls) == 2
