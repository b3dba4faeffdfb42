"""The community ONNX restorers on tiny models, alone and through the enhancer stage's paste and report."""
from __future__ import annotations

import numpy as np
import pytest

from services.enhancer.engines.onnx_restore import ENGINE_CLASSES, FIDELITY_WEIGHT
from shared.engines import CPU
from shared.errors import EngineUnavailable, WeightsMismatch
from shared.onnx_catalog import CARDS, cards
from tests.onnx import tiny
from tests.onnx.conftest import face_at, landmarks, uniform

RESTORERS = [card.name for card in cards("restorer")]
FACE_BGR = (60, 110, 190)
OUT = np.array([-0.6, 0.0, 0.4])  # model output, RGB in [-1, 1]


def _install(store, name, **kwargs):
    tiny.restorer(store.path(name), CARDS[name].size, **kwargs)
    store.add(name, licence="Apache-2.0", commercial=True)
    return ENGINE_CLASSES[name].load(store.models, CPU)


def _spy(monkeypatch, model):
    calls = []
    original = model._call
    monkeypatch.setattr(model, "_call", lambda feeds: calls.append(dict(feeds)) or original(feeds))
    return calls


@pytest.mark.parametrize("name", RESTORERS)
def test_the_tensor_that_reaches_the_model_and_the_face_that_comes_back(store, monkeypatch, name):
    card = CARDS[name]
    engine = _install(store, name, color=OUT)
    calls = _spy(monkeypatch, engine.model)
    aligned, paste_size = engine.align(uniform(FACE_BGR), face_at(landmarks()))
    assert paste_size == card.size and aligned.crop.shape == (card.size, card.size, 3) and aligned.template == card.template
    [restored] = engine.run_batch([(aligned.crop, paste_size)])
    [feeds] = calls
    image = feeds["image"]  # by role; the file calls it `input`
    assert engine.model.inputs["image"].name == "input"
    np.testing.assert_allclose(image[0].mean(axis=(1, 2), dtype=np.float64), (np.array(FACE_BGR[::-1]) / 255.0 - 0.5) / 0.5,
                               atol=1e-6)
    expected_bgr = np.round((OUT[::-1] + 1) / 2 * 255)
    assert restored.shape == (card.size, card.size, 3) and restored.dtype == np.uint8
    assert np.abs(restored.reshape(-1, 3).astype(float) - expected_bgr).max() <= 1


def test_codeformer_gets_its_fidelity_weight(store):
    engine = _install(store, "codeformer", color=OUT, weight_input=True)
    assert engine.model.has_input("weight")
    aligned, size = engine.align(uniform(FACE_BGR), face_at(landmarks()))
    [restored] = engine.run_batch([(aligned.crop, size)])
    expected_bgr = np.round((OUT[::-1] * FIDELITY_WEIGHT + 1) / 2 * 255)  # the tiny model scales by `weight`
    assert np.abs(restored[100, 100].astype(float) - expected_bgr).max() <= 1


@pytest.mark.parametrize("batch, calls", [("N", 1), (1, 3)])
def test_batching(store, monkeypatch, batch, calls):
    engine = _install(store, "gfpgan_1.4", batch=batch)
    seen = _spy(monkeypatch, engine.model)
    crops = [engine.align(uniform((20 * i, 90, 150)), face_at(landmarks()))[0].crop for i in range(3)]
    restored = engine.run_batch([(crop, 512) for crop in crops])
    assert len(seen) == calls
    for crop, out in zip(crops, restored):  # an identity model gives each face back, in order
        assert np.abs(out.astype(int) - crop.astype(int)).max() <= 1


def test_errors(store):
    with pytest.raises(EngineUnavailable, match=r"facecast models import gfpgan_1\.4\.onnx"):
        ENGINE_CLASSES["gfpgan_1.4"].load(store.models, CPU)
    tiny.restorer(store.path("codeformer"), 256, color=OUT)
    store.add("codeformer")
    with pytest.raises(WeightsMismatch, match=r"input 'input' \(image\).*axis 2: 256 != 512"):
        ENGINE_CLASSES["codeformer"].load(store.models, CPU)


def test_through_the_enhancer_stage_paste_and_report(store):
    """The stage's own path: alignment by the engine, its face mask and strength, paste-back, the report with
    the imported file's record and the one commercial-use rule."""
    from services.enhancer.stage import STAGE
    from shared.images import DecodedImage
    from shared.settings import Settings
    from shared.stage import StageContext, StageInputs
    from tests.data import astronaut

    tiny.restorer(store.path("gfpgan_1.4"), 512, color=OUT)
    store.add("gfpgan_1.4", licence="Apache-2.0", commercial=True)
    ctx = StageContext(settings=Settings(data_dir=store.files), models=store.models)
    image = astronaut()
    params = STAGE.parse_params({"engine": "gfpgan_1.4", "restore": "full", "blend": 1.0, "pre_blur_sigma": 0})
    out = STAGE.run(params, StageInputs(image=DecodedImage(pixels=image, format="png", had_alpha=False)), ctx)
    report = out.report
    assert report["engine"] == "gfpgan_1.4" and report["commercial_use"] is True
    assert [w["name"] for w in report["model_weights"]] == ["gfpgan_1.4"]
    assert report["model_weights"][0]["licence"] == "Apache-2.0"
    changed = np.any(out.image != image, axis=2)
    x, y, w, h = (int(v) for v in report["faces"][0]["box"])
    cx, cy = x + w // 2, y + h // 2
    # the face centre took the model's colour; far corners of the photo are the input's own bytes
    assert np.abs(out.image[cy, cx].astype(float) - np.round((OUT[::-1] + 1) / 2 * 255)).max() <= 2
    assert changed[cy, cx] and not changed[:40, :40].any() and not changed[-40:, -40:].any()


def test_an_imported_record_decides_commercial_use(store):
    """Imported as non-commercial, the same Apache-2.0 engine's result is not for commercial use."""
    from services.enhancer.stage import STAGE
    from shared.images import DecodedImage
    from shared.settings import Settings
    from shared.stage import StageContext, StageInputs
    from tests.data import astronaut

    tiny.restorer(store.path("gfpgan_1.4"), 512, color=OUT)
    store.add("gfpgan_1.4", licence="LicenseRef-my-shop-NC", commercial=False)
    ctx = StageContext(settings=Settings(data_dir=store.files), models=store.models)
    params = STAGE.parse_params({"engine": "gfpgan_1.4", "restore": "full"})
    out = STAGE.run(params, StageInputs(image=DecodedImage(pixels=astronaut(), format="png", had_alpha=False)), ctx)
    assert out.report["commercial_use"] is False
