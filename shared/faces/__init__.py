"""The face toolkit every stage shares: detect, select, align, mesh, mask, paste back, colour, identity.

Images are H×W×3 uint8 BGR arrays (decode uploads with `shared.images.decode_image`). Points are
(x, y) float pixels. Models ship inside pinned packages and are hash-checked at load
(`shared.faces.packaged_models`); each thread gets its own model instances. Measures live in
`shared.faces.metrics`.
"""
from shared.faces.align import TEMPLATES, AlignedFace, align_face, template_points
from shared.faces.color import match_skin_color, skin_lab_stats
from shared.faces.detect import DEFAULT_MIN_FACE_PX, DEFAULT_MIN_SCORE, detect_faces
from shared.faces.identity import cosine_similarity, embedding_of_aligned, identity_embedding, identity_similarity
from shared.faces.masks import REGIONS, face_oval_mask, person_mask, region_mask
from shared.faces.mesh import MESH_POINTS, face_mesh, image_face_mesh
from shared.faces.paste import paste_back, soft_square_mask, warp_mask_to_image
from shared.faces.select import FaceSelection, find_faces, largest_face, select_faces
from shared.faces.types import Face

__all__ = [
    "DEFAULT_MIN_FACE_PX", "DEFAULT_MIN_SCORE", "MESH_POINTS", "REGIONS", "TEMPLATES", "AlignedFace", "Face",
    "FaceSelection", "align_face", "cosine_similarity", "detect_faces", "embedding_of_aligned", "face_mesh",
    "face_oval_mask", "find_faces", "identity_embedding", "identity_similarity", "image_face_mesh", "largest_face",
    "match_skin_color", "paste_back", "person_mask", "region_mask", "select_faces", "skin_lab_stats",
    "soft_square_mask", "template_points", "warp_mask_to_image",
]
