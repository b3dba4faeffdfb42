import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.faces import (align_face, cosine_similarity, detect_faces, face_mesh, identity_embedding,
                          identity_similarity, match_skin_color, region_mask, skin_lab_stats)


def test_astronaut_matches_its_mirror_image(astronaut_image):
    assert identity_similarity(astronaut_image, np.ascontiguousarray(astronaut_image[:, ::-1])) > 0.5


def test_astronaut_does_not_match_an_unrelated_face(astronaut_image, hopper_image):
    assert identity_similarity(astronaut_image, hopper_image) < 0.3


def test_embedding_is_unit_length_128_d(astronaut_image, astronaut_face):
    embedding = identity_embedding(astronaut_image, astronaut_face)
    assert embedding.shape == (128,) and embedding.dtype == np.float32
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)


def test_identity_survives_a_small_full_body_shot(astronaut_image, astronaut_face):
    from tests.data import load_image

    image = load_image("body_w120")
    (face,) = detect_faces(image)
    assert cosine_similarity(identity_embedding(image, face), identity_embedding(astronaut_image, astronaut_face)) > 0.5


def test_cosine_refuses_mismatched_or_zero_vectors():
    with pytest.raises(InvalidInput):
        cosine_similarity(np.ones(128), np.ones(64))
    with pytest.raises(InvalidInput):
        cosine_similarity(np.zeros(128), np.ones(128))


@pytest.fixture(scope="module")
def two_faces(astronaut_image, hopper_image):
    crops = []
    for image in (astronaut_image, hopper_image):
        (face,) = detect_faces(image)
        crop = align_face(image, face, "ffhq512").crop
        crops.append((crop, region_mask(face_mesh(crop), "skin", 512)))
    return crops


def test_skin_color_moves_to_the_reference_statistics(two_faces):
    (source, source_skin), (reference, reference_skin) = two_faces
    mean_s, _ = skin_lab_stats(source, source_skin)
    mean_r, std_r = skin_lab_stats(reference, reference_skin)
    assert np.abs(mean_s - mean_r).max() > 3  # the two skins really differ
    result = match_skin_color(source, source_skin, reference, reference_skin,
                              apply_mask=(source_skin > 0.5).astype(np.float32))
    mean_out, std_out = skin_lab_stats(result, source_skin)
    assert np.abs(mean_out - mean_r).max() < 1.5
    assert np.abs(std_out - std_r).max() < 1.5


def test_color_transfer_leaves_non_skin_pixels_and_respects_strength(two_faces):
    (source, source_skin), (reference, reference_skin) = two_faces
    result = match_skin_color(source, source_skin, reference, reference_skin)
    outside = source_skin == 0
    assert np.array_equal(result[outside], source[outside])
    assert np.array_equal(match_skin_color(source, source_skin, reference, reference_skin, strength=0.0), source)
    half = match_skin_color(source, source_skin, reference, reference_skin, strength=0.5)
    inside = source_skin > 0.99
    full_shift = np.abs(result[inside].astype(int) - source[inside].astype(int)).mean()
    half_shift = np.abs(half[inside].astype(int) - source[inside].astype(int)).mean()
    assert 0.3 * full_shift < half_shift < 0.7 * full_shift


def test_color_transfer_refuses_bad_masks(two_faces):
    (source, source_skin), (reference, reference_skin) = two_faces
    with pytest.raises(InvalidInput, match="at least"):
        match_skin_color(source, np.zeros_like(source_skin), reference, reference_skin)
    with pytest.raises(InvalidInput, match="does not match"):
        match_skin_color(source, source_skin[:100], reference, reference_skin)
    with pytest.raises(InvalidInput, match="strength"):
        match_skin_color(source, source_skin, reference, reference_skin, strength=2.0)
