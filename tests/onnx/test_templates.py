"""The alignment templates of the community ONNX models, against the published five-point coordinates."""
from __future__ import annotations

import numpy as np
import pytest

from shared.faces import template_points

# insightface python-package/insightface/utils/face_align.py: `arcface_dst` (the 112×112 ArcFace template)
# and `src3` of its five-pose set (the frontal one); `estimate_norm` places `arcface_dst` on a 128 canvas
# by shifting it 8 px right. facexlib's FaceRestoreHelper 512 template (GFPGAN, CodeFormer).
ARCFACE_DST = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
INSIGHTFACE_SRC3 = [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]]
FACEXLIB_512 = [[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935], [201.26117, 371.41043],
                [313.08905, 371.15118]]
# FaceFusion facefusion/face_helper.py WARP_TEMPLATE_SET: the same points divided by the crop size
FACEFUSION = {
    "arcface_112_v1": [[0.35473214, 0.45658929], [0.64526786, 0.45658929], [0.50000000, 0.61154464],
                       [0.37913393, 0.77687500], [0.62086607, 0.77687500]],
    "arcface_112_v2": [[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
                       [0.37097589, 0.82469196], [0.63151696, 0.82325089]],
    "arcface_128": [[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
                    [0.38710391, 0.72160547], [0.61507734, 0.72034453]],
    "ffhq_512": [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
                 [0.39308822, 0.72541100], [0.61150205, 0.72490465]],
}
PUBLISHED_PX = {
    "arcface_112_v1": (112, INSIGHTFACE_SRC3),
    "arcface_112_v2": (112, ARCFACE_DST),
    "arcface_128": (128, (np.array(ARCFACE_DST) + [8.0, 0.0]).tolist()),
    "ffhq_512": (512, FACEXLIB_512),
}


@pytest.mark.parametrize("name", sorted(FACEFUSION))
def test_template_matches_published_points(name):
    size, points = template_points(name)
    published_size, published = PUBLISHED_PX[name]
    assert size == published_size
    np.testing.assert_allclose(points, published, atol=1e-4)
    np.testing.assert_allclose(points / size, FACEFUSION[name], atol=1e-6)


def test_facefusion_names_share_the_existing_templates():
    for new, old in (("arcface_112_v2", "arcface112"), ("ffhq_512", "ffhq512")):
        np.testing.assert_array_equal(template_points(new)[1], template_points(old)[1])
