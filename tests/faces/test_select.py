import pytest
from pydantic import ValidationError

from shared.errors import FaceSelectionError, FaceTooSmall, NoFaceFound
from shared.faces import FaceSelection, detect_faces, find_faces, identity_embedding, largest_face, select_faces
from tests.data import load_image, sample


@pytest.fixture(scope="module")
def group():
    image = load_image("group_three")
    return image, detect_faces(image)


def test_largest_is_the_biggest_face(group):
    image, faces = group
    (chosen,) = select_faces(image, faces, FaceSelection())
    assert chosen.width == max(f.width for f in faces)
    assert chosen.width > 100


def test_index_counts_left_to_right(group):
    image, faces = group
    picked = [select_faces(image, faces, FaceSelection(face_selector="index", face_index=i))[0] for i in range(3)]
    xs = [f.center[0] for f in picked]
    assert xs == sorted(xs) and len(set(xs)) == 3


def test_index_out_of_range_is_a_selection_error(group):
    image, faces = group
    with pytest.raises(FaceSelectionError, match="only 3 face"):
        select_faces(image, faces, {"face_selector": "index", "face_index": 3})


def test_reference_picks_the_closest_identity(group, hopper_image):
    image, faces = group
    hopper_in_group = [t for t in sample("group_three").faces if t.identity == "hopper"][0]
    reference = identity_embedding(hopper_image, largest_face(hopper_image))
    (chosen,) = select_faces(image, faces, FaceSelection(face_selector="reference"), reference)
    cx, cy = chosen.center
    x, y, w, h = hopper_in_group.box
    assert x < cx < x + w and y < cy < y + h


def test_reference_without_an_embedding_is_refused(group):
    image, faces = group
    with pytest.raises(FaceSelectionError, match="reference"):
        select_faces(image, faces, FaceSelection(face_selector="reference"))


def test_all_returns_every_face_left_to_right(group):
    image, _ = group
    faces = find_faces(image, FaceSelection(face_selector="all"))
    assert len(faces) == 3
    assert [f.center[0] for f in faces] == sorted(f.center[0] for f in faces)


def test_no_face_is_an_explicit_error():
    with pytest.raises(NoFaceFound) as caught:
        find_faces(load_image("noface_mannequin0"))
    assert caught.value.code == "no-face-found"


def test_too_small_face_reports_its_size():
    with pytest.raises(FaceTooSmall) as caught:
        find_faces(load_image("body_w56"), min_face_px=70)
    assert 45 < caught.value.details["face_width"] < 70
    assert caught.value.details["min_face_px"] == 70


def test_selection_with_all_drops_only_the_small_faces():
    faces = find_faces(load_image("group_three"), {"face_selector": "all"}, min_face_px=75)
    assert len(faces) == 2 and min(f.width for f in faces) >= 75


@pytest.mark.parametrize("raw", [{"face_selector": "biggest"}, {"face_index": -1}])
def test_selection_parameters_are_validated(raw):
    with pytest.raises(ValidationError):
        FaceSelection.model_validate(raw)


def test_a_too_small_message_never_reads_as_the_limit_itself():
    """A 39.6-px face was reported as "the face is 40 px wide; at least 40 px is needed"."""
    import numpy as np

    from shared.faces import Face, select

    face = Face(box=(10.0, 10.0, 39.6, 48.0), landmarks5=np.zeros((5, 2), np.float32), score=0.9, roll=0.0)
    original = select.detect_faces
    select.detect_faces = lambda *a, **k: [face]
    try:
        with pytest.raises(FaceTooSmall) as caught:
            select.find_faces(np.zeros((100, 100, 3), np.uint8), min_face_px=40)
    finally:
        select.detect_faces = original
    assert "39.6 px wide; at least 40 px" in caught.value.message
