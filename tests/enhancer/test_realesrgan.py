"""Real-ESRGAN x4plus runner: verified weights, exact sizes, seamless tiling, thread safety."""
from __future__ import annotations

import dataclasses
import threading

import cv2
import numpy as np
import pytest
from skimage.data import astronaut

from shared import realesrgan
from shared.errors import EngineUnavailable, InvalidInput, WeightsMismatch


@pytest.fixture(scope="module")
def model() -> realesrgan.RealESRGANx4:
    return realesrgan.RealESRGANx4(threads=2)


@pytest.fixture(scope="module")
def face_patch() -> np.ndarray:
    """48×48 BGR patch of the astronaut's face (eyes, nose, skin): smooth areas show seams best."""
    image = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)[40:88, 90:138])


def _jumps(image: np.ndarray, axis: int) -> np.ndarray:
    """Mean absolute step between neighbouring columns (axis=1) or rows (axis=0); entry k is k→k+1."""
    steps = np.abs(np.diff(image.astype(np.float64), axis=axis))
    return steps.mean(axis=(0 if axis == 1 else 1, 2))


def _seam_excess(image: np.ndarray, borders: list[int], axis: int, window: int = 8) -> float:
    """Largest (step across a tile border) − (largest step within `window` pixels inside the tiles)."""
    jumps = _jumps(image, axis)
    excess = []
    for border in borders:
        k = border - 1
        inside = np.r_[jumps[k - window:k], jumps[k + 1:k + 1 + window]]
        excess.append(jumps[k] - inside.max())
    return max(excess)


def test_tiler_reassembles_a_pointwise_network_exactly():
    rng = np.random.default_rng(0)
    image = rng.random((37, 53, 3), dtype=np.float32)
    scale = 3
    seen_shapes = []

    def nearest(tile: np.ndarray) -> np.ndarray:
        seen_shapes.append(tile.shape[:2])
        return np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)

    expected = nearest(image)
    for tile, overlap in [(8, 0), (10, 3), (16, 5), (64, 4)]:
        seen_shapes.clear()
        result = realesrgan.tiled_apply(image, nearest, scale, tile=tile, overlap=overlap)
        assert result.shape == (37 * scale, 53 * scale, 3)
        np.testing.assert_allclose(result, expected, atol=1e-5)
        assert max(max(s) for s in seen_shapes) <= tile + 2 * overlap  # memory bound per call


def test_tiler_rejects_nonsense_tiles():
    with pytest.raises(InvalidInput):
        realesrgan.tiled_apply(np.zeros((4, 4, 3), np.float32), lambda t: t, 1, tile=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_gives_exact_dimensions(model, scale):
    image = np.random.default_rng(scale).integers(0, 256, (13, 21, 3), dtype=np.uint8)
    result = realesrgan.upscale(image, scale, model=model)
    assert result.shape == (13 * scale, 21 * scale, 3) and result.dtype == np.uint8


def test_upscale_keeps_the_picture_and_its_color_order(model, face_patch):
    small = cv2.resize(face_patch, (24, 24), interpolation=cv2.INTER_AREA)
    result = realesrgan.upscale_x4(small, model=model)
    back = cv2.resize(result, (24, 24), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(back - small).mean() < 16  # measured 10: restored detail, same picture
    assert np.abs(back[:, :, ::-1] - small).mean() > 30  # measured 41: red and blue not swapped


def test_overlapping_tiles_leave_no_seams(model, face_patch):
    tiled = realesrgan.upscale_x4(face_patch, tile=16, overlap=4, model=model)
    borders = [16 * 4, 32 * 4]
    for axis in (0, 1):
        assert _seam_excess(tiled, borders, axis) <= 0, f"seam along axis {axis}"


def test_seam_measure_sees_the_seams_of_naive_tiling(model, face_patch):
    """The measure above is not blind: cutting tiles without overlap leaves visible steps."""
    naive = realesrgan.upscale_x4(face_patch, tile=16, overlap=0, model=model)
    assert max(_seam_excess(naive, [64, 128], axis) for axis in (0, 1)) > 2


def test_threads_share_a_model_safely_with_one_net_per_concurrent_call(face_patch):
    model = realesrgan.RealESRGANx4(threads=1)
    inputs = [np.ascontiguousarray(face_patch[i:i + 16, i:i + 16]) for i in (0, 8, 16, 24)]
    sequential = [realesrgan.upscale_x4(x, model=model) for x in inputs]
    assert len(model._idle_nets) == 1
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        results[index] = realesrgan.upscale_x4(inputs[index], model=model)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for index, expected in enumerate(sequential):
        assert np.abs(results[index].astype(int) - expected.astype(int)).max() <= 1
    nets = len(model._idle_nets)
    assert 1 <= nets <= len(inputs)
    for index in range(3):  # one thread after another: the idle nets are reused, none is added
        worker = threading.Thread(target=work, args=(index,))
        worker.start()
        worker.join()
    assert len(model._idle_nets) == nets


def test_weights_with_another_hash_are_refused(monkeypatch):
    monkeypatch.setattr(realesrgan, "X4PLUS_BIN", dataclasses.replace(realesrgan.X4PLUS_BIN, sha256="0" * 64))
    with pytest.raises(WeightsMismatch, match="sha256"):
        realesrgan.upscale_x4(np.zeros((8, 8, 3), np.uint8), model=realesrgan.RealESRGANx4())


def test_bad_images_and_scales_are_refused(model):
    with pytest.raises(InvalidInput):
        realesrgan.upscale_x4(np.zeros((8, 8), np.uint8), model=model)
    with pytest.raises(InvalidInput, match="scale"):
        realesrgan.upscale(np.zeros((8, 8, 3), np.uint8), 8, model=model)


def test_vulkan_is_used_only_where_ncnn_finds_a_gpu():
    import ncnn

    image = np.zeros((8, 8, 3), np.uint8)
    if ncnn.get_gpu_count() < 1:
        with pytest.raises(EngineUnavailable, match="Vulkan"):
            realesrgan.upscale_x4(image, model=realesrgan.RealESRGANx4(vulkan=True))
    else:
        assert realesrgan.upscale_x4(image, model=realesrgan.RealESRGANx4(vulkan=True)).shape == (32, 32, 3)
