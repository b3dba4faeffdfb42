"""The BiSeNet face parser and the XSeg occluder on tiny models, alone and keeping a swap off what covers a face."""
from __future__ import annotations

import numpy as np
import pytest

from services.swapper.engines.onnx_swap import ENGINE_CLASSES
from shared.engines import CPU
from shared.errors import WeightsMismatch
from shared.faces import OCCLUDER_SIGNATURE, PARSER_CLASSES, PARSER_SIGNATURE, FaceParser, Occluder, imported_masks
from shared.onnx_catalog import CARDS
from shared.onnx_runner import Execution, load_from_store
from tests.onnx import tiny
from tests.onnx.conftest import source_face, target_face, uniform
from tests.onnx.test_swap_engines import _install

SKIN, HAIR = PARSER_CLASSES.index("skin"), PARSER_CLASSES.index("hair")
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _parser_weights() -> np.ndarray:
    """Logits: skin = the normalised red channel, hair = the normalised blue channel, the rest −5."""
    weights = np.zeros((19, 3), np.float32)
    weights[SKIN, 0] = 1.0
    weights[HAIR, 2] = 1.0
    return weights


def _red_over_blue(size: int) -> np.ndarray:
    """A BGR crop: blue (hair in the tiny parser) on top, red (skin) below."""
    crop = np.zeros((size, size, 3), np.uint8)
    crop[: size // 2] = (230, 30, 20)
    crop[size // 2:] = (20, 30, 230)
    return crop


def test_parser_input_and_regions(store, monkeypatch):
    tiny.parser(store.path("bisenet_resnet_18"), _parser_weights())
    store.add("bisenet_resnet_18", licence="MIT", commercial=True)
    parser = FaceParser(load_from_store(store.models, "bisenet_resnet_18", PARSER_SIGNATURE, Execution()),
                        CARDS["bisenet_resnet_18"])
    seen = []
    original = parser.model._call
    monkeypatch.setattr(parser.model, "_call", lambda feeds: seen.append(feeds["image"]) or original(feeds))
    [labels] = parser.labels([_red_over_blue(300)])
    [tensor] = seen
    assert tensor.shape == (1, 3, 512, 512)  # resized to the parser's 512
    top = (np.array([20, 30, 230]) / 255 - IMAGENET_MEAN) / IMAGENET_STD  # blue as RGB, ImageNet-normalised
    np.testing.assert_allclose(tensor[0, :, 10, 10], top, atol=1e-5)
    assert labels.shape == (300, 300)
    assert (labels[:140] == HAIR).all() and (labels[160:] == SKIN).all()
    assert FaceParser.region(labels, "hair")[:140].all() and not FaceParser.region(labels, "hair")[160:].any()


def test_occluder_input_layout_and_mask(store):
    tiny.occluder(store.path("xseg_1"), channel=2)  # gives back the third NHWC channel: BGR's red
    store.add("xseg_1", licence="GPL-3.0-only")
    occluder = Occluder(load_from_store(store.models, "xseg_1", OCCLUDER_SIGNATURE, Execution()), CARDS["xseg_1"])
    [visible] = occluder.visible([_red_over_blue(128)])
    assert visible.shape == (128, 128)
    np.testing.assert_allclose(visible[:60].mean(), 20 / 255, atol=1e-3)  # fed as BGR x/255, as FaceFusion does
    np.testing.assert_allclose(visible[70:].mean(), 230 / 255, atol=1e-3)


def test_parser_of_another_layout_is_refused(store):
    tiny.occluder(store.path("bisenet_resnet_34"))
    store.add("bisenet_resnet_34", licence="MIT", commercial=True)
    with pytest.raises(WeightsMismatch, match="bisenet_resnet_34"):
        imported_masks(store.models, Execution())


def test_a_swap_keeps_off_what_the_parser_says_covers_the_face(store):
    engine = _install(store, "hyperswap_1a_256")
    assert engine.masks.parser is None
    image = uniform((20, 30, 230))
    image[:330] = (230, 30, 20)  # the upper part of the face "hair" for the tiny parser
    target = target_face(image, "ffhq512")
    [plain] = engine.run_batch([(target, source_face(uniform((90, 60, 150))))])

    tiny.parser(store.path("bisenet_resnet_18"), _parser_weights())
    store.add("bisenet_resnet_18", licence="MIT", commercial=True)
    masked = ENGINE_CLASSES["hyperswap_1a_256"].load(store.models, CPU)
    assert masked.masks.parser is not None and "bisenet_resnet_18" in masked.records()
    [result] = masked.run_batch([(target, source_face(uniform((90, 60, 150))))])
    hair = target.aligned.crop[..., 0] > 128  # blue in the aligned crop
    assert plain.valid[hair].mean() > 0.5  # without a parser the model's view covers the hair too
    assert result.valid[hair].max() == 0 and result.valid[~hair].mean() > 0.3


def test_a_parser_imported_while_the_worker_runs_is_used_from_the_next_batch(store):
    from shared.settings import Settings
    from shared.stage import StageContext

    engine = _install(store, "hyperswap_1a_256")
    ctx = StageContext(settings=Settings(data_dir=store.files), models=store.models)
    image = uniform((20, 30, 230))
    image[:330] = (230, 30, 20)
    target = target_face(image, "ffhq512")
    [before] = engine.run_batch([(target, source_face(uniform((90, 60, 150))))], ctx)
    tiny.parser(store.path("bisenet_resnet_34"), _parser_weights())
    store.add("bisenet_resnet_34", licence="MIT", commercial=True)
    [after] = engine.run_batch([(target, source_face(uniform((90, 60, 150))))], ctx)
    hair = target.aligned.crop[..., 0] > 128
    assert before.valid[hair].mean() > 0.5 and after.valid[hair].max() == 0
    assert "bisenet_resnet_34" in engine.records()
