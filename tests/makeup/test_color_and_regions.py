"""Units of the landmarks engine: the LAB rules, the eyeliner band, and the presets file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from services.makeup.color import (LIGHTNESS_RULES, MIN_REGION_PIXELS, REGIONS, RegionColor, hex_to_lab,
                                    region_offset, robust_region_color)
from services.makeup.looks import LOOKS_FILE, load_looks
from services.makeup.regions import eyeliner_mask
from shared.errors import InvalidInput
from shared.faces import MESH_TEMPLATE, align_face, face_mesh, largest_face, region_mask


def test_offset_moves_chroma_fully_and_lightness_by_a_bounded_share():
    current = RegionColor(lab=np.array([70.0, 15.0, 12.0], np.float32), pixels=100)
    goal = np.array([10.0, 60.0, 30.0], np.float32)
    for region, rule in LIGHTNESS_RULES.items():
        offset = region_offset(region, current, goal)
        assert offset[1:] == pytest.approx([45.0, 18.0])
        assert offset[0] == pytest.approx(-min(rule.share * 60.0, rule.max_shift))
        assert abs(offset[0]) < 60.0


def test_robust_color_ignores_highlights_and_shadows():
    rng = np.random.default_rng(0)
    lab = np.zeros((20, 20, 3), np.float32)
    lab[...] = [50.0, 40.0, 20.0]
    lab += rng.normal(0, 1.0, lab.shape).astype(np.float32)
    lab[0, :8] = [100.0, 0.0, 0.0]  # specular highlight
    lab[1, :8] = [5.0, 0.0, 0.0]  # open-mouth shadow
    color = robust_region_color(lab, np.ones((20, 20), np.float32))
    assert color.lab == pytest.approx([50.0, 40.0, 20.0], abs=0.5)


def test_robust_color_is_none_when_too_few_pixels_are_inside():
    lab = np.full((10, 10, 3), 50.0, np.float32)
    mask = np.zeros((10, 10), np.float32)
    mask.flat[:MIN_REGION_PIXELS - 1] = 1.0
    assert robust_region_color(lab, mask) is None


def test_hex_colors_convert_and_bad_ones_are_refused():
    assert hex_to_lab("#FFFFFF") == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    red = hex_to_lab("#FF0000")
    assert red[1] > 70 and red[2] > 60
    with pytest.raises(InvalidInput, match="not an sRGB hex colour"):
        hex_to_lab("#12345")


def test_every_look_is_valid_and_names_known_regions():
    looks = load_looks()
    assert {"autumn-warm", "summer-cool", "natural"} <= set(looks)
    raw = json.loads(LOOKS_FILE.read_text())["looks"]
    assert set(raw) == set(looks)
    for look in looks.values():
        assert set(look.regions) <= set(REGIONS)
        assert all(0.0 < r.intensity <= 1.0 for r in look.regions.values())


def test_eyeliner_sits_on_the_upper_lid_and_never_on_the_eye(astronaut):
    aligned = align_face(astronaut, largest_face(astronaut), MESH_TEMPLATE)
    mesh = face_mesh(aligned.crop)
    liner = eyeliner_mask(mesh, aligned.size)
    eyes = region_mask(mesh, "eyes", aligned.size, feather_px=0)
    assert liner.dtype == np.float32 and liner.min() >= 0.0 and 0.5 < liner.max() <= 1.0
    assert liner[eyes >= 0.5].max() == 0.0
    ys, xs = np.nonzero(liner >= 0.5)
    eye_ys, _ = np.nonzero(eyes >= 0.5)
    assert ys.mean() < eye_ys.mean(), "the liner must lie above the eyes' centre"
    assert ys.max() <= eye_ys.max()
    left, right = xs < aligned.size / 2, xs >= aligned.size / 2
    assert left.sum() > 20 and right.sum() > 20, "both eyes get a liner"
    eye_width = np.ptp(np.nonzero(eyes[:, : aligned.size // 2] >= 0.5)[1])
    assert np.ptp(ys[left]) < eye_width, "a band along the lid, not a patch"
