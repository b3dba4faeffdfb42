"""Dense landmarks: MediaPipe's 478-point face mesh (468 + 10 iris points), run on an aligned crop.

MediaPipe finds the face in the crop itself (BlazeFace) and then fits the mesh; an aligned crop
(`ffhq256` by default) gives it a well-framed upright face whatever the original photo looked like.
Points come back in crop pixels; `image_face_mesh` maps them to the original image.
"""
from __future__ import annotations

import cv2
import numpy as np

from shared.errors import NoFaceFound
from shared.faces import packaged_models
from shared.faces.align import align_face
from shared.faces.types import Face, check_bgr

MESH_POINTS = 478
MESH_TEMPLATE = "ffhq256"


def face_mesh(crop: np.ndarray, with_depth: bool = False) -> np.ndarray:
    """(478, 2) float32 (x, y) in crop pixels, or (478, 3) with `with_depth`: z, MediaPipe's depth estimate
    relative to the face's centre, in crop pixels too (MediaPipe scales it like x; smaller is nearer the
    camera). NoFaceFound when MediaPipe sees no face."""
    crop = check_bgr(crop, "crop")
    result = packaged_models.mediapipe_face_mesh().process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    if not result.multi_face_landmarks:
        raise NoFaceFound("the face mesh found no face in the aligned crop")
    landmarks = result.multi_face_landmarks[0].landmark
    points = np.array([(p.x, p.y, p.z) for p in landmarks], np.float32)
    points *= np.array([crop.shape[1], crop.shape[0], crop.shape[1]], np.float32)
    return points if with_depth else np.ascontiguousarray(points[:, :2])


def image_face_mesh(image: np.ndarray, face: Face, template: str = MESH_TEMPLATE) -> np.ndarray:
    """(478, 2) mesh of a detected face in original image pixels."""
    aligned = align_face(image, face, template)
    return aligned.to_image(face_mesh(aligned.crop)).astype(np.float32)
