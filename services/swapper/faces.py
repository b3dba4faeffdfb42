"""The faces a swap works on: the prepared source portrait and each selected target face.

Both engines and the compositing step share these, so detection, alignment and the mesh are computed
once per face and per alignment template.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from shared.errors import FaceTooSmall, NoFaceFound
from shared.faces import AlignedFace, Face, FaceSelection, align_face, face_mesh, find_faces, identity_embedding

SOURCE_MIN_FACE_PX = 64  # a smaller source face has too little texture to give a face of its own
SOURCE_CACHE_SIZE = 16  # virtual models' portraits recur from job to job


@dataclass
class SourceFace:
    """The face to put in: its pixels, detection, SFace identity, and per-template crops and meshes."""
    pixels: np.ndarray = field(repr=False)
    face: Face
    embedding: np.ndarray = field(repr=False)
    _aligned: dict[str, AlignedFace] = field(default_factory=dict, repr=False)
    _meshes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def aligned(self, template: str) -> AlignedFace:
        with self._lock:
            if template not in self._aligned:
                self._aligned[template] = align_face(self.pixels, self.face, template)
            return self._aligned[template]

    def mesh(self, template: str) -> np.ndarray:
        crop = self.aligned(template).crop
        with self._lock:
            if template not in self._meshes:
                try:
                    self._meshes[template] = face_mesh(crop).astype(np.float64)
                except NoFaceFound:
                    raise NoFaceFound("the source portrait's face could not be meshed: it does not look "
                                      "like a face", role="source") from None
            return self._meshes[template]


@dataclass
class TargetFace:
    """One selected face of the working image, aligned with the engine's template and meshed."""
    face: Face
    aligned: AlignedFace
    mesh: np.ndarray


_sources: OrderedDict[str, SourceFace] = OrderedDict()
_sources_lock = threading.Lock()


def prepare_source(pixels: np.ndarray) -> SourceFace:
    """The largest face of the source portrait, cached by content; errors say it is the source."""
    digest = hashlib.sha256(np.ascontiguousarray(pixels).data).hexdigest() + str(pixels.shape)
    with _sources_lock:
        if digest in _sources:
            _sources.move_to_end(digest)
            return _sources[digest]
    try:
        face = find_faces(pixels, FaceSelection(), min_face_px=SOURCE_MIN_FACE_PX)[0]
    except NoFaceFound:
        raise NoFaceFound("no face was found in the source portrait", role="source") from None
    except FaceTooSmall as exc:
        raise FaceTooSmall(f"the source portrait's face is too small: {exc.message}", role="source",
                           **exc.details) from None
    source = SourceFace(pixels=pixels, face=face, embedding=identity_embedding(pixels, face))
    with _sources_lock:
        _sources[digest] = source
        while len(_sources) > SOURCE_CACHE_SIZE:
            _sources.popitem(last=False)
    return source


def find_targets(image: np.ndarray, selection: FaceSelection, reference_embedding: np.ndarray | None) -> list[Face]:
    """The selected faces of the working image; errors say it is the target."""
    try:
        return find_faces(image, selection, reference_embedding=reference_embedding)
    except NoFaceFound:
        raise NoFaceFound("no face was found in the target photo", role="target") from None
    except FaceTooSmall as exc:
        raise FaceTooSmall(f"the target photo's face is too small: {exc.message}", role="target",
                           **exc.details) from None


def prepare_target(image: np.ndarray, face: Face, template: str) -> TargetFace:
    aligned = align_face(image, face, template)
    try:
        mesh = face_mesh(aligned.crop).astype(np.float64)
    except NoFaceFound:
        box = ", ".join(f"{v:.0f}" for v in face.box)
        raise NoFaceFound(f"the target face at box [{box}] could not be meshed (too turned or covered)",
                          role="target", box=[round(float(v), 1) for v in face.box]) from None
    return TargetFace(face=face, aligned=aligned, mesh=mesh)
