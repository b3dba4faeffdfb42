"""The face toolkit every stage shares: detect, select, align, mesh, mask, paste back, colour, identity,
and the measures results are judged by.

Images are H×W×3 uint8 BGR arrays (decode uploads with `shared.images.decode_image`). Points are
(x, y) float pixels. Models ship inside pinned packages and are hash-checked at load
(`shared.faces.packaged_models`); each thread gets its own model instances. Code outside the toolkit
imports the names below from `shared.faces`; the submodules are layered, each importing only from the
layers below it (the import-linter layers contract in pyproject.toml):

1. `types`, `packaged_models` — the face record and input check; the packaged model files
2. `align` — geometry: templates, similarity transforms, `apply_affine`, warps
3. `detect`, `identity`, `mesh`, `onnx_models` — detectors and recognisers
4. `select` — which faces a stage works on; identity similarity of two photos' faces
5. `masks`, `paste`, `color` — region masks, paste-back, colour transfer and CIELAB conversion
6. `metrics` — the measures (identity, garment PSNR, seam ΔE, sharpness, CIEDE2000)
7. `realism` — the realism figures, thresholds and warnings of a changed face
8. `cli` — `facecast faces …`
"""
from shared.faces.align import (FACESHIFTER_IDENTITY_SLICE, TEMPLATES, AlignedFace, align_face, apply_affine,
                                similarity_matrix, template_points, warp_to_crop)
from shared.faces.color import (LAB_L_OFFSET, bgr_to_lab, colour_by_lightness, lab_to_bgr, match_skin_color,
                                skin_lab_stats)
from shared.faces.detect import DEFAULT_MIN_FACE_PX, DEFAULT_MIN_SCORE, detect_faces
from shared.faces.identity import cosine_similarity, embedding_of_aligned, identity_embedding
from shared.faces.masks import (REGIONS, disk, face_edge_px, face_oval_mask, grown, mesh_topology, person_mask,
                                region_mask)
from shared.faces.mesh import MESH_POINTS, MESH_TEMPLATE, face_mesh, image_face_mesh
from shared.faces.metrics import (delta_e_ciede2000, mask_edge_px, noise_sigma, outside_mask_psnr, seam_delta_e,
                                  sharpness)
from shared.faces.onnx_models import (CONVERTER_SIGNATURE, OCCLUDER_SIGNATURE, PARSER_CLASSES, PARSER_SIGNATURE,
                                      RECOGNISER_SIGNATURE, ArcFaceRecogniser, FaceMasks, FaceParser, Identity,
                                      Occluder, convert_embeddings, image_tensor, imported_masks, tensor_image)
from shared.faces.paste import paste_back, soft_square_mask, warp_mask_to_image
from shared.faces.realism import (CRITERIA, RealismThresholds, SharpnessMeter, dark_patches, forehead_mask,
                                  identity_to_original, identity_to_source, meets_criteria, neck_mask, realism_figures,
                                  realism_warnings, seam_excess_delta_e, sharpness_ratio, skin_colour_delta_e,
                                  teeth_added, tone_gap_delta_e, upper_cheeks_mask)
from shared.faces.select import FaceSelection, find_faces, identity_similarity, largest_face, select_faces
from shared.faces.types import Face

__all__ = [
    "CONVERTER_SIGNATURE", "CRITERIA", "DEFAULT_MIN_FACE_PX", "DEFAULT_MIN_SCORE", "FACESHIFTER_IDENTITY_SLICE",
    "LAB_L_OFFSET", "MESH_POINTS", "MESH_TEMPLATE", "OCCLUDER_SIGNATURE", "PARSER_CLASSES", "PARSER_SIGNATURE",
    "RECOGNISER_SIGNATURE",
    "REGIONS", "TEMPLATES", "AlignedFace", "ArcFaceRecogniser", "Face", "FaceMasks", "FaceParser", "FaceSelection",
    "Identity", "Occluder", "RealismThresholds", "SharpnessMeter", "align_face", "apply_affine", "bgr_to_lab",
    "colour_by_lightness", "convert_embeddings", "cosine_similarity", "dark_patches", "delta_e_ciede2000",
    "detect_faces", "disk", "embedding_of_aligned", "face_edge_px", "face_mesh", "face_oval_mask", "find_faces",
    "forehead_mask", "grown",
    "identity_embedding", "identity_similarity", "identity_to_original", "identity_to_source", "image_face_mesh",
    "image_tensor", "imported_masks", "lab_to_bgr", "largest_face", "mask_edge_px", "match_skin_color",
    "meets_criteria", "mesh_topology", "neck_mask", "noise_sigma", "outside_mask_psnr", "paste_back", "person_mask",
    "realism_figures", "realism_warnings", "region_mask", "seam_delta_e", "seam_excess_delta_e", "select_faces",
    "sharpness", "sharpness_ratio", "similarity_matrix", "skin_colour_delta_e", "skin_lab_stats", "soft_square_mask",
    "teeth_added", "template_points", "tensor_image", "tone_gap_delta_e", "upper_cheeks_mask", "warp_mask_to_image",
    "warp_to_crop",
]
