"""Which face(s) a stage works on in a multi-face photo (a parameter of every stage), and the identity
similarity of the faces two photos show."""
from __future__ import annotations

import numpy as np

from shared.errors import FaceSelectionError, FaceTooSmall, NoFaceFound
from shared.faces.detect import DEFAULT_MIN_FACE_PX, detect_faces
from shared.faces.identity import cosine_similarity, identity_embedding
from shared.faces.types import Face
from shared.params import FaceSelection  # defined torch-free for the stages' contracts; the toolkit's name

# find_faces searches a little below the minimum so that a face just under it is reported as
# FaceTooSmall (with its size) rather than as NoFaceFound.
SEARCH_BELOW_MINIMUM = 0.7


def select_faces(image: np.ndarray, faces: list[Face], selection: FaceSelection | dict | None = None,
                 reference_embedding: np.ndarray | None = None) -> list[Face]:
    """The selected faces (one, or all for `all`), raising NoFaceFound / FaceSelectionError."""
    selection = _as_selection(selection)
    if not faces:
        raise NoFaceFound("no face was found in the image")
    left_to_right = sorted(faces, key=lambda f: f.center[0])
    selector = selection.face_selector
    if selector == "largest":
        return [max(faces, key=lambda f: f.area)]
    if selector == "all":
        return left_to_right
    if selector == "index":
        if selection.face_index >= len(faces):
            raise FaceSelectionError(
                f"face_index {selection.face_index} asked for, but only {len(faces)} face(s) were found "
                f"(indices count from 0, left to right)", face_index=selection.face_index, faces_found=len(faces))
        return [left_to_right[selection.face_index]]
    if reference_embedding is None:
        raise FaceSelectionError("face_selector 'reference' needs a reference identity embedding")
    scored = [(cosine_similarity(identity_embedding(image, f), reference_embedding), i) for i, f in enumerate(faces)]
    return [faces[max(scored)[1]]]


def find_faces(image: np.ndarray, selection: FaceSelection | dict | None = None,
               reference_embedding: np.ndarray | None = None, min_face_px: float | None = None,
               min_score: float | None = None) -> list[Face]:
    """Detect and select; faces narrower than `min_face_px` raise FaceTooSmall with the size found."""
    selection = _as_selection(selection)
    minimum = DEFAULT_MIN_FACE_PX if min_face_px is None else float(min_face_px)
    faces = detect_faces(image, min_score=min_score, min_face_px=minimum * SEARCH_BELOW_MINIMUM,
                         exhaustive=selection.face_selector != "largest")
    if not faces:
        raise NoFaceFound("no face was found in the image", min_face_px=minimum)
    chosen = select_faces(image, faces, selection, reference_embedding)
    usable = [f for f in chosen if f.width >= minimum]
    if not usable:
        widest = max(chosen, key=lambda f: f.width)
        raise FaceTooSmall(f"the face is {widest.width:.1f} px wide; at least {minimum:g} px is needed",
                           face_width=round(widest.width, 1), min_face_px=minimum)
    return usable


def largest_face(image: np.ndarray, min_face_px: float | None = None) -> Face:
    return find_faces(image, FaceSelection(), min_face_px=min_face_px)[0]


def identity_similarity(img_a: np.ndarray, img_b: np.ndarray, face_a: Face | None = None,
                        face_b: Face | None = None) -> float:
    """Cosine similarity of the SFace embeddings of the faces in two images (the largest face of each
    unless given); raises NoFaceFound / FaceTooSmall like `largest_face`."""
    face_a = face_a or largest_face(img_a)
    face_b = face_b or largest_face(img_b)
    return cosine_similarity(identity_embedding(img_a, face_a), identity_embedding(img_b, face_b))


def _as_selection(selection: FaceSelection | dict | None) -> FaceSelection:
    if selection is None:
        return FaceSelection()
    if isinstance(selection, FaceSelection):
        return selection
    return FaceSelection.model_validate(selection)
