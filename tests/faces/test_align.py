import cv2
import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.faces import (FACESHIFTER_IDENTITY_SLICE, TEMPLATES, align_face, cosine_similarity, detect_faces,
                          embedding_of_aligned, identity_embedding, similarity_matrix, template_points)


@pytest.mark.parametrize("template", ["arcface112", "ffhq256", "ffhq512", "ffhq1024", "faceshifter256", "gpen512"])
def test_landmarks_land_on_the_template(astronaut_image, astronaut_face, template):
    aligned = align_face(astronaut_image, astronaut_face, template)
    size, points = template_points(template)
    assert aligned.crop.shape == (size, size, 3) and aligned.size == size and aligned.template == template
    residual = np.linalg.norm(aligned.to_crop(astronaut_face.landmarks5) - points, axis=1)
    eye_distance = np.linalg.norm(points[1] - points[0])
    assert residual.max() < 0.15 * eye_distance
    round_trip = aligned.to_image(aligned.to_crop(astronaut_face.landmarks5))
    np.testing.assert_allclose(round_trip, astronaut_face.landmarks5, atol=1e-3)


def test_similarity_matrix_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = np.radians(25), 1.7, np.array([12.0, -4.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = similarity_matrix(points, points @ rotation.T + shift)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_faceshifter_identity_subcrop_is_the_arcface_alignment():
    size, points = template_points("faceshifter256")
    start, stop = FACESHIFTER_IDENTITY_SLICE.start, FACESHIFTER_IDENTITY_SLICE.stop
    in_subcrop = (points - start) * (112 / (stop - start))
    np.testing.assert_allclose(in_subcrop, template_points("arcface112")[1], atol=0.1)
    ffhq_eyes = np.linalg.norm(np.subtract(*template_points("ffhq256")[1][:2]))
    faceshifter_eyes = np.linalg.norm(np.subtract(*points[:2]))
    assert 1.08 < faceshifter_eyes / ffhq_eyes < 1.10


def test_ffhq_sizes_are_one_template_scaled():
    _, p256 = template_points("ffhq256")
    _, p1024 = template_points("ffhq1024")
    np.testing.assert_allclose(p1024, p256 * 4)


def test_strong_downscale_keeps_the_identity(astronaut_image, astronaut_face):
    """A big face shrunk to 112 px goes through area resampling first, so no aliasing hurts SFace."""
    big = cv2.resize(astronaut_image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    (face,) = detect_faces(big)
    assert face.width > 300
    aligned = align_face(big, face, "arcface112")
    assert aligned.scale < 0.4
    reference = identity_embedding(astronaut_image, astronaut_face)
    similarity = cosine_similarity(embedding_of_aligned(aligned.crop), reference)
    assert similarity > 0.9


def test_bad_alignment_inputs(astronaut_image, astronaut_face):
    with pytest.raises(InvalidInput, match="unknown alignment template"):
        align_face(astronaut_image, astronaut_face, "ffhq333")
    with pytest.raises(InvalidInput, match="5×2"):
        align_face(astronaut_image, np.zeros((4, 2)), "ffhq512")
    with pytest.raises(InvalidInput, match="degenerate"):
        align_face(astronaut_image, np.ones((5, 2)), "ffhq512")
    assert set(TEMPLATES) >= {"arcface112", "ffhq256", "ffhq512", "ffhq1024"}


def test_align_face_renders_a_template_at_another_size_with_the_same_framing():
    from tests.data import load_image

    image = load_image("portrait_astronaut")
    face = detect_faces(image)[0]
    full = align_face(image, face, "ffhq512")
    half = align_face(image, face, "ffhq512", size=256)
    assert half.size == 256 and half.crop.shape == (256, 256, 3)
    np.testing.assert_allclose(half.matrix, full.matrix * 0.5, atol=1e-9)
    assert np.abs(cv2.resize(full.crop, (256, 256), interpolation=cv2.INTER_AREA).astype(int)
                  - half.crop.astype(int)).mean() < 4
