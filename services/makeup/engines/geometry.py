"""What both engines need of one face: its aligned crop, 478-point mesh and makeup-region masks."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from services.makeup.regions import makeup_region_mask
from shared.errors import FaceTooSmall, NoFaceFound
from shared.faces import MESH_TEMPLATE, AlignedFace, Face, align_face, face_mesh, largest_face


@dataclass
class FaceGeometry:
    face: Face
    aligned: AlignedFace
    mesh: np.ndarray  # (478, 2) in crop pixels
    _masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def mask(self, region: str) -> np.ndarray:
        """Soft crop-space mask of a makeup region, built once."""
        if region not in self._masks:
            self._masks[region] = makeup_region_mask(self.mesh, region, self.aligned.size)
        return self._masks[region]


def face_geometry(image: np.ndarray, face: Face) -> FaceGeometry:
    """Aligned to `ffhq256`, the crop the mesh is made for and the size BeautyGAN was trained at."""
    aligned = align_face(image, face, MESH_TEMPLATE)
    return FaceGeometry(face=face, aligned=aligned, mesh=face_mesh(aligned.crop))


def reference_geometry(reference: np.ndarray) -> FaceGeometry:
    """The reference photo's largest face; its errors say that the reference, not the image, is at fault."""
    try:
        return face_geometry(reference, largest_face(reference))
    except NoFaceFound as exc:
        raise NoFaceFound("no face was found in the makeup reference photo", input="reference",
                          **exc.details) from exc
    except FaceTooSmall as exc:
        raise FaceTooSmall(f"the face in the makeup reference photo is too small: {exc.message}",
                           input="reference", **exc.details) from exc
