"""Cheap amplification (issue 14, item 7): a 116 kB PNG of a 6300×6300 canvas held the makeup worker
for 48 s at 2.6 GB, almost all of it face detection over the whole canvas, four times (the pyramid,
then the equalised and the two turned retries). The detector's work now follows a pixel bound, not the
canvas; a canvas without contrast is answered at once; the stage checks its time budget."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from services.makeup.looks import load_looks
from services.makeup.stage import STAGE
from shared.budget import TimeBudgetExceeded, time_budget
from shared.errors import NoFaceFound
from shared.faces import detect as detect_module
from shared.images import DecodedImage
from shared.stage import StageInputs

SIDE = 6300


@pytest.fixture
def yunet_pixels(monkeypatch):
    """Counts the pixels YuNet is run on (its cost is ~linear in them)."""
    counted = {"pixels": 0, "calls": 0}
    original = detect_module._yunet

    def counting(image, threshold):
        counted["pixels"] += image.shape[0] * image.shape[1]
        counted["calls"] += 1
        return original(image, threshold)

    monkeypatch.setattr(detect_module, "_yunet", counting)
    return counted


def run_makeup(pixels: np.ndarray, ctx):
    params = STAGE.parse_params({"look": sorted(load_looks())[0]})
    return STAGE.run(params, StageInputs(image=DecodedImage(pixels=pixels, format="png", had_alpha=False)), ctx)


def test_an_all_zero_6300_px_canvas_fails_at_once_without_a_detector_pass(yunet_pixels, ctx):
    canvas = np.zeros((SIDE, SIDE, 3), np.uint8)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(NoFaceFound):
            run_makeup(canvas, ctx)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert yunet_pixels["calls"] == 0
    assert elapsed < 5.0, f"{elapsed:.1f} s"
    assert peak < 40_000_000, f"{peak:,} bytes beside the 119 MB input"  # a bounded copy, not canvas copies


def test_detection_work_on_a_huge_textured_canvas_is_bounded(yunet_pixels, ctx):
    tile = np.kron([[0, 200], [200, 0]], np.ones((16, 16))).astype(np.uint8)  # a 16 px checkerboard
    canvas = np.ascontiguousarray(np.repeat(np.tile(tile, (SIDE // 32 + 1, SIDE // 32 + 1))[:SIDE, :SIDE, None], 3, 2))
    with pytest.raises(NoFaceFound):
        run_makeup(canvas, ctx)
    # the pyramid (≤ 4 MP at its finest) and three retries on a ≤ 2 MP copy; the whole canvas four
    # times over (as before) is 150 MP
    assert yunet_pixels["pixels"] < 16_000_000, f"{yunet_pixels['pixels']:,} pixels searched"


def test_pyramid_levels_never_exceed_the_bound():
    scales = detect_module.pyramid_scales(SIDE, SIDE, 28)
    assert (SIDE * scales[-1]) ** 2 <= detect_module.SEARCH_MAX_PIXELS
    assert detect_module.pyramid_scales(900, 1350, 28)[-1] == pytest.approx(20 / 28)  # photos: unchanged


def test_the_makeup_step_stops_at_its_time_budget(ctx):
    rng = np.random.default_rng(3)
    canvas = rng.integers(0, 256, (3000, 3000, 3), dtype=np.uint8)
    with time_budget(0.0, "makeup"), pytest.raises(TimeBudgetExceeded, match="makeup step ran past"):
        run_makeup(canvas, ctx)
