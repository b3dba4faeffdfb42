"""The crop a target face is composited on: never smaller than the face in the photo, and no more than
1.5 × larger (the composite's work grows with the crop's area)."""
from __future__ import annotations

import numpy as np
import pytest

from services.swapper.faces import COMPOSITE_TEMPLATES, composite_template
from shared.faces import Face, similarity_matrix, template_points


def _face(scale: float) -> Face:
    """A face whose five points are ffhq512's scaled by `scale` (so it fills a 512·scale crop at 1:1)."""
    _, points = template_points("ffhq512")
    landmarks = (points * scale + 40.0).astype(np.float32)
    x0, y0 = landmarks.min(0)
    x1, y1 = landmarks.max(0)
    return Face(box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)), landmarks5=landmarks, score=0.9)


def _crop_scale(face: Face, template: str) -> float:
    _, points = template_points(template)
    return float(np.sqrt(abs(np.linalg.det(similarity_matrix(face.landmarks5, points)[:, :2]))))


@pytest.mark.parametrize("scale, expected", [(0.3, "ffhq256"), (0.6, "ffhq384"), (0.9, "ffhq512"),
                                             (1.3, "ffhq768"), (1.8, "ffhq1024"), (3.0, "ffhq1024")])
def test_the_smallest_crop_that_holds_the_face_is_chosen(scale, expected):
    face = _face(scale)
    chosen = composite_template(face)
    assert chosen == expected
    if scale <= 2.0:  # a face larger than the largest crop is shrunk into it
        assert _crop_scale(face, chosen) >= 1.0
    smaller = COMPOSITE_TEMPLATES[:COMPOSITE_TEMPLATES.index(chosen)]
    assert all(_crop_scale(face, template) < 1.0 for template in smaller)
    if smaller:  # the next crop down would have shrunk it, so this one enlarges it by at most its step
        assert _crop_scale(face, chosen) < 1.5
