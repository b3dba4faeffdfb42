"""The faces a swap works on: the prepared source portrait and each selected target face.

Both engines and the compositing step share these, so detection, alignment and the mesh are computed
once per face and per alignment template.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

import cv2

from services.swapper.blend import BROW_TOPS, lips_and_opening, mouth_open
from services.swapper.meshwarp import piecewise_affine
from services.swapper.occlusion import EYE_CORNERS, hand_mask, occluder_mask, wears_glasses
from shared.errors import FaceTooSmall, InvalidInput, NoFaceFound, SourceCovered
from shared.faces import (AlignedFace, Face, FaceSelection, align_face, disk, face_edge_px, face_mesh, face_oval_mask,
                          find_faces, grown, identity_embedding, region_mask, similarity_matrix, template_points)
from shared.realesrgan import upscale

SOURCE_MIN_FACE_PX = 64  # a smaller source face has too little texture to give a face of its own
SOURCE_CACHE_SIZE = 16  # virtual models' portraits recur from job to job
SUPER_RESOLVE_BELOW_PX = 112  # source faces narrower than this are super-resolved (Real-ESRGAN) once
SUPER_RESOLVE_REGION = 1.4  # × face box: the region around the source face that is super-resolved
SUPER_RESOLVE_GAN_SHARE = 0.5  # Real-ESRGAN's share of the upscaled source; the rest is a bicubic upscale
SOURCE_MAX_CUT = 0.12  # a source face with more of its box than this outside the image is refused
SOURCE_EYE_MARGIN = 0.25  # × face width: a source eye's centre at least this far inside the image (an eye nearer
# its border has its outer corner cut, and the lids round it masked out as beyond the portrait: a broken eye)
SOURCE_OCCLUDER_GROW = 0.4  # × face edge width around the source's hair, glasses or hands
SOURCE_BEARD_SHARE = 0.3  # of the face below the nose: dark masses this large are a beard
SOURCE_LIPS_MARGIN = 0.3  # × face edge width around the lips, not part of a beard
SOURCE_COVER_AREA = 0.04  # × face-oval area: a dark mass above the eyes this large is a cover, not a brow
SOURCE_STRAND_GAP = 0.5  # × face edge width: strands this close together form one fringe
SOURCE_CREASE_WIDTH = 0.3  # × face edge width: darker lines thinner than this are creases, not hair
SOURCE_CORNER_RADIUS = 0.7  # × face edge width around each mouth corner that stays the photo's
MOUTH_CORNER_POINTS = (61, 291)  # MediaPipe face-mesh mouth corners
SOURCE_LIPS_GROW = 0.2  # × face edge width around the source's lips and mouth, which never travel
SOURCE_LID_MARGIN = 0.6  # × face edge width around the eye outlines: the lids, which always travel
SOURCE_BROW_MARGIN = 0.25  # × face edge width around the mesh's brow outlines: the whole brow travels
SOURCE_RIM = 0.5  # × face edge width inside the face outline, below the eyes, that never travels: the cheek's edge
# against the portrait's hair or backdrop, stretched over a turned head's near cheek, was a grey block or a light
# oval with a dark rim there (a fresh review of nine turned heads)
MIRROR_TONE_SIGMAS = (2.0, 1.0, 0.5, 0.25)  # × face edge width, coarse to fine: the scales at which the mirrored
# side takes this side's light
MIRROR_KNOWN_SHARE = 0.3  # share of a scale's neighbourhood showing bare skin on both sides from which it holds whole
MIRROR_RIM = 1.5  # × face edge width inside the outline, below the eyes, that is not filled from the other side: a
# cheek's side turning from the light, mirrored there and stretched over a turned head's near cheek, drew a dark line
MIRROR_STRAND_GROW = 0.15  # × face edge width round a strand on the lids that is painted over, and round the eye
# that is not
MIRROR_PAINT_RADIUS = 0.3  # × face edge width: the inpainting radius for strands on the lids
MIRROR_BROW_SHARE = 0.2  # share of a brow under hair from which it is filled whole from the other side
NOSE_BRIDGE = 168  # MediaPipe face-mesh point between the brows: the face's midline there
MIRROR_ABOVE_BROWS = 0.8  # × face edge width above the brows' top outline beyond which the temples are not
# filled: a fill reaching up the temple into a fringe stood as a light fin with a hard side on a turned head
MIRROR_GAIN_LIMITS = (0.6, 1.6)  # the most a mirrored pixel's colour is scaled by to meet this side's light
LIPS_TRAVEL_BELOW_PX = 64  # a photo's face narrower than this takes the portrait's lips (`lips_travel`)
TARGET_MAX_CUT = 0.2  # a target face with more of its box than this outside the photo is left alone
TARGET_EYE_MARGIN = 0.02  # × face width: a target eye's centre nearer the photo's border than this is outside it
GLASSES_CHECK_TEMPLATE = "ffhq512"
MIN_TARGET_FACE_PX = 20  # full-body shop photos have faces from about 24 px, which YuNet's box reads as 22–24 px
# The crops a target face is composited on, smallest first. Steps of 1.5 and 1.33 rather than 2: the
# composite's work grows with the crop's area, and a face needing a 260-px crop had been worked on 512
# (3.9 × its pixels; the stage call on the bench's 193-px face 471 → 347 ms).
COMPOSITE_TEMPLATES = ("ffhq256", "ffhq384", "ffhq512", "ffhq768", "ffhq1024")


@dataclass
class SourceFace:
    """The face to put in: its pixels (super-resolved around the face when it was small), detection,
    SFace identity, and per-template crops, meshes and clean-skin masks.

    `detail_px` is the face width the portrait really had: super-resolution invents plausible texture,
    not the person's, so a face much smaller than the target's is flagged whatever was done to it."""
    pixels: np.ndarray = field(repr=False)
    face: Face
    embedding: np.ndarray = field(repr=False)
    original_face: Face | None = None
    detail_px: float = 0.0
    super_resolved: int = 1
    _aligned: dict[str, AlignedFace] = field(default_factory=dict, repr=False)
    _meshes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _depths: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _clean: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _mirrored: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _lips: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def aligned(self, template: str) -> AlignedFace:
        with self._lock:
            if template not in self._aligned:
                self._aligned[template] = align_face(self.pixels, self.face, template)
            return self._aligned[template]

    def clean(self, template: str) -> np.ndarray:
        """Bool crop mask of the source face pixels that may be transferred: inside the face outline
        and the portrait, not under hair, a hat, a hand or another occluder, and not the outline's rim
        below the eyes (`SOURCE_RIM`), where the cheek turns against the portrait's hair or backdrop.
        What hair or the portrait's border covers on one side (but for the features, the forehead and the
        cheek's side) travels from the other side where that is bare, mirrored (`crop`, `mirror_filled`)."""
        aligned, mesh = self.aligned(template), self.mesh(template)
        with self._lock:
            if template not in self._clean:
                size = aligned.size
                inside = cv2.warpAffine(np.full(self.pixels.shape[:2], 255, np.uint8), aligned.matrix, (size, size),
                                        flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
                edge = face_edge_px(mesh)
                # An opening drops thin dark lines (creases, smile lines, lashes) and keeps masses of hair
                # or objects; of those, only what reaches the face from its outline above the eyes (a
                # fringe, strands, a hat brim) covers it: a blob inside the face is its own shading (a
                # nose shadow, a lit cheek) and a dark jaw line is its own shading, and both travel; a full
                # beard does not (`beard`).
                # The grown band catches stray strands at the edges.
                reach = max(1, int(round(SOURCE_OCCLUDER_GROW * edge)))
                joined, masses = dark_masses(aligned.crop, mesh)
                oval = face_oval_mask(mesh, size, 0, 0) > 0.5
                outline = oval & ~(cv2.erode(oval.astype(np.uint8), disk(max(1, int(round(edge))))) > 0)
                count, labels = cv2.connectedComponents(masses, connectivity=8)
                from_outside = np.zeros(count, bool)
                upper = np.zeros((size, size), bool)
                upper[:int(mesh[list(EYE_CORNERS), 1].mean())] = True  # above the eye line: fringes, strands, brims
                from_outside[np.unique(labels[outline & upper & (masses > 0)])] = True
                # a mass above the eyes larger than a brow covers the forehead even if it does not
                # reach the outline (a fringe cut short by the mesh's hairline, a brim's shadow)
                upper_area = np.bincount(labels[upper & (masses > 0)], minlength=count)
                from_outside |= upper_area > SOURCE_COVER_AREA * oval.sum()
                from_outside[0] = False
                # the thin strand ends the opening dropped belong to the cover they hang from
                count, strands = cv2.connectedComponents(joined, connectivity=8)
                hanging = np.zeros(count, bool)
                hanging[np.unique(strands[from_outside[labels]])] = True
                hanging[0] = False
                # Eyes, lids, brows and nose carry the identity: they travel, whatever lies next to them.
                feature_area = features(mesh, size)
                beyond = grown(~inside, reach)
                strands_on_face = from_outside[labels] | hanging[strands]
                under_hair = grown(strands_on_face, reach) | beyond
                hair = (under_hair & ~feature_area) | beyond
                # The photo's own lips and mouth stay (compose), so the source's do not travel: its lipstick's
                # edge or a fuller lip would land beside the photo's lips as specks, its smile's corner
                # creases as dark strokes (but on a small face, `lips`). Nor does a beard, mirrored or not.
                bearded = grown(bearded_area(beard(masses > 0, mesh, oval, edge)), reach) & ~feature_area
                lips_grow = max(1, int(round(SOURCE_LIPS_GROW * edge)))
                lips = grown(lips_and_opening(mesh, size), lips_grow)
                corners = mouth_corners(mesh, size, edge)
                kept = bearded | lips | corners
                below_eyes = np.zeros((size, size), bool)
                below_eyes[int(mesh[list(EYE_CORNERS), 1].mean()):] = True
                inset = cv2.distanceTransform(oval.astype(np.uint8), cv2.DIST_L2, 3)  # px inside the outline
                rim = below_eyes & (inset <= SOURCE_RIM * edge)
                clean = oval & ~hair & ~kept & ~rim
                opening = grown(region_mask(mesh, "mouth", size, feather_px=0) > 0.5, lips_grow)
                self._lips[template] = oval & (lips | corners) & ~opening & ~bearded & ~hair & ~rim
                # What hair covers is filled from the face's other side where that is bare, but for the features,
                # which travel as they are: mirrored round them, a lid's crease or a brow beside its own was doubled,
                # and a mirrored iris looks the other way. A brow mostly under hair is mirrored whole
                # (`covered_brows`); strands on the lids are painted over with the skin round them (`mirror_filled`).
                # Not the cheek's side below the eyes (`MIRROR_RIM`), nor the forehead between the brows' ends: it
                # carries little of the likeness, and a fringe's edge mirrored there brought its shade onto the
                # photo's forehead; on the temples, nothing higher than just above the brows (`above_brows`: cut
                # level across them, the fill's top was a straight edge by the eye).
                eyes = region_mask(mesh, "eyes", size, feather_px=0) > 0.5
                strand_grow = max(1, int(round(MIRROR_STRAND_GROW * edge)))
                on_lids = grown(eyes, max(1, int(round(SOURCE_LID_MARGIN * edge)))) & grown(strands_on_face,
                                                                                           strand_grow)
                fillable = oval & under_hair & ~kept & ~feature_area & ~(below_eyes & (inset <= MIRROR_RIM * edge))
                brow_ends = np.sort(mesh[[BROW_TOPS[0], BROW_TOPS[-1]], 0]).astype(int)
                fillable[:int(mesh[list(BROW_TOPS), 1].mean()), brow_ends[0]:brow_ends[1] + 1] = False
                fillable &= ~above_brows(mesh, size, MIRROR_ABOVE_BROWS * edge)
                fillable |= covered_brows(mesh, size, edge, under_hair)
                self._mirrored[template] = mirror_filled(aligned.crop, mesh, clean & ~under_hair, fillable,
                                                         oval & on_lids & ~grown(eyes, strand_grow))
                self._clean[template] = clean | self._mirrored[template][0]
            return self._clean[template]

    def lips(self, template: str) -> np.ndarray:
        """Bool crop mask of the portrait's lips with the skin just round them and the mouth's corners, not the
        opening between them: what the classical engine carries besides `clean` onto a face narrower than
        LIPS_TRAVEL_BELOW_PX, on the photo's lip outline (`lips_travel`)."""
        self.clean(template)
        return self._lips[template]

    def mirrored(self, template: str) -> np.ndarray:
        """Bool crop mask of the pixels `crop` fills from the face's other side (a part of `clean`)."""
        self.clean(template)
        return self._mirrored[template][0]

    def crop(self, template: str) -> np.ndarray:
        """The aligned crop (H×W×3 uint8) with what the portrait's hair or border covers on one side of the
        face filled from the other side, mirrored (`mirror_filled`): the pixels `clean` lets travel."""
        self.clean(template)
        mask, pixels = self._mirrored[template]
        crop = self.aligned(template).crop.copy()
        crop[mask] = pixels
        return crop

    def report(self) -> dict:
        """The source face as found in the portrait, and what preparing it did."""
        return {**(self.original_face or self.face).as_dict(), "detail_px": round(float(self.detail_px), 1),
                "super_resolved": self.super_resolved}

    def mesh(self, template: str) -> np.ndarray:
        """(478, 2) mesh of the aligned crop, crop pixels."""
        self._measure_mesh(template, need_depth=False)
        return self._meshes[template]

    def depth(self, template: str) -> np.ndarray:
        """(478,) MediaPipe's depth of each mesh point, crop pixels (`face_mesh`): what turning the
        portrait's face to a photo's head pose needs (`meshwarp.transfer_shape`)."""
        self._measure_mesh(template, need_depth=True)
        return self._depths[template]

    def _measure_mesh(self, template: str, need_depth: bool) -> None:
        crop = self.aligned(template).crop
        with self._lock:
            if template in self._meshes and (template in self._depths or not need_depth):
                return
            try:
                points = face_mesh(crop, with_depth=True).astype(np.float64)
            except NoFaceFound:
                raise NoFaceFound("the source portrait's face could not be meshed: it does not look "
                                  "like a face", role="source") from None
            # a prepared source stored before depths were kept has its mesh already: the same crop gives it again
            self._meshes.setdefault(template, np.ascontiguousarray(points[:, :2]))
            self._depths[template] = np.ascontiguousarray(points[:, 2])


@dataclass
class TargetFace:
    """One selected face of the working image, aligned with the engine's template and meshed, with the
    hands found in front of or beside it (crop mask)."""
    face: Face
    aligned: AlignedFace
    mesh: np.ndarray
    hands: np.ndarray = field(repr=False, default=None)

    @cached_property
    def covers(self) -> np.ndarray:
        """Bool crop mask of what the colour model finds covering the face (`occluder_mask`: hair, objects,
        a dark lens), found once for the engine and the composite. Read-only: combine, do not change it."""
        return occluder_mask(self.aligned.crop, self.mesh)


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
    cut = outside_fraction(face, pixels.shape)
    if cut > SOURCE_MAX_CUT:
        raise InvalidInput(f"the source portrait's face is cut by the image border ({cut:.0%} of its box is "
                           f"outside the picture): use a portrait that shows the whole face", role="source")
    margin = eye_margin(face, pixels.shape)
    if margin < SOURCE_EYE_MARGIN:
        raise InvalidInput(f"the source portrait is cut beside an eye (its centre {margin:.2f} face widths from the "
                           f"image border, at least {SOURCE_EYE_MARGIN} needed): use a portrait that shows the whole "
                           f"face with some room around it", role="source")
    source = _super_resolved(pixels, face, identity_embedding(pixels, face))
    # Frames lie over the eyes: carried over they paste glasses onto every photo, painted out they leave
    # smudges, and left out they take the eyes (most of the identity) with them; so such a portrait
    # cannot make a clean source.
    if wears_glasses(source.aligned(GLASSES_CHECK_TEMPLATE).crop, source.mesh(GLASSES_CHECK_TEMPLATE)):
        raise SourceCovered("the source portrait shows glasses over the eyes: the eyes carry most of the "
                            "identity and the frames would be pasted onto every photo; use a portrait without "
                            "glasses", role="source", reason="source-covered")
    with _sources_lock:
        _sources[digest] = source
        while len(_sources) > SOURCE_CACHE_SIZE:
            _sources.popitem(last=False)
    return source


def lips_travel(target: "TargetFace", source: SourceFace) -> bool:
    """True when the photo's face is narrower than LIPS_TRAVEL_BELOW_PX and both mouths are open or both
    closed: the portrait's lips, which the engine warps onto the photo's lip outline at that size, are kept, and
    only the photo's mouth opening (its teeth or the dark between the lips) stays; otherwise the photo's whole
    mouth stays. At a full-body shot's size the lips are a few pixels, no lip edge tears there, and the lips and
    the skin round them are part of the likeness SFace reads (full-body set: 48 → 49 of 84 meet all five, the
    gap to the original up on 49 pairs, down on 15, +0.012 on average). The opening stays the photo's: a wider
    smile's teeth over its lips were teeth added (8 of 84 when the opening travelled too)."""
    template = target.aligned.template
    return (target.face.width < LIPS_TRAVEL_BELOW_PX
            and mouth_open(source.mesh(template)) == mouth_open(target.mesh))


def covered_brows(mesh: np.ndarray, size: int, edge: float, under_hair: np.ndarray) -> np.ndarray:
    """Bool crop mask of each brow (grown by SOURCE_BROW_MARGIN) that hair covers in more than MIRROR_BROW_SHARE
    of: it is filled whole from the other side, or not at all. Part mirrored and part its own, a brow was two
    strokes one beside the other, and its own left to end at the hair's edge a blunt, cut-off tail."""
    brows = grown(region_mask(mesh, "brows", size, feather_px=0) > 0.5, max(1, int(round(SOURCE_BROW_MARGIN * edge))))
    columns = np.arange(size)[None, :]
    covered = np.zeros((size, size), bool)
    for side in (columns < mesh[NOSE_BRIDGE, 0], columns >= mesh[NOSE_BRIDGE, 0]):
        brow = brows & side
        if brow.any() and (brow & under_hair).sum() > MIRROR_BROW_SHARE * brow.sum():
            covered |= brow
    return covered


def above_brows(mesh: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Bool crop mask of what lies more than `margin` px above the brows' top outline (BROW_TOPS, joined
    point to point and carried level beyond its ends)."""
    tops = mesh[list(BROW_TOPS)]
    tops = tops[np.argsort(tops[:, 0])]
    ceiling = np.interp(np.arange(size), tops[:, 0], tops[:, 1]) - margin
    return np.arange(size)[:, None] < ceiling[None, :]


def mirror_filled(crop: np.ndarray, mesh: np.ndarray, bare: np.ndarray, fillable: np.ndarray,
                  strands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, pixels): the pixels of `fillable` (bool crop mask: skin the portrait's hair or border covers)
    that the face's other side shows bare (`bare`, bool: skin that may travel and nothing covers), and of
    `strands` (bool: hair on the lids), with their colours ((N, 3) uint8): mirrored, and the strands painted over.

    The issue's answer to a source's fringe or side hair: fill it from the symmetric side of the face. The
    crop is flipped and meshed again, and the flipped face is warped onto the face's own mesh point by point
    (MediaPipe's points keep their meaning on a mirrored face, so no symmetry table is needed). A face is
    seldom lit alike on both sides: the mirrored pixels are scaled by the ratio of the two sides' colours where
    both show bare skin (normalised convolutions at MIRROR_TONE_SIGMAS, within MIRROR_GAIN_LIMITS).
    Left unfilled, the photo's own pixels showed there: its lash tips or brow's tail beside the portrait's eye."""
    nothing = np.zeros(fillable.shape, bool), np.zeros((0, 3), np.uint8)
    if not (fillable.any() or strands.any()):
        return nothing
    size = crop.shape[0]
    flipped = np.ascontiguousarray(crop[:, ::-1])
    try:
        flipped_mesh = face_mesh(flipped).astype(np.float64)
    except NoFaceFound:
        return _with_strands_painted(crop, np.zeros_like(fillable), strands, face_edge_px(mesh))
    mirrored, inside = piecewise_affine(np.dstack([flipped, np.ascontiguousarray(bare[:, ::-1]).astype(np.uint8)
                                                   * 255]), flipped_mesh, mesh, size)
    shown = inside & (mirrored[..., 3] > 127)
    given = fillable & shown
    edge = face_edge_px(mesh)
    if not given.any():
        return _with_strands_painted(crop, given, strands, edge)
    pad = int(np.ceil(4 * max(MIRROR_TONE_SIGMAS) * edge)) + 1
    rows, cols = np.nonzero(given)
    box = (slice(max(0, rows.min() - pad), rows.max() + pad + 1), slice(max(0, cols.min() - pad), cols.max() + pad + 1))
    # The two sides' colours are compared where both show bare skin and the ratio carried into the fill by
    # normalised convolution, coarse to fine: each finer scale takes over where enough of its neighbourhood is
    # known, so along the seam the fill meets this side's own shading and deep inside it the face's light.
    both = (bare & shown)[box].astype(np.float32)
    gain = np.ones(both.shape + (3,), np.float32)  # no bare skin on both sides nearby: the mirrored side as it is
    for scale in MIRROR_TONE_SIGMAS:
        sigma = scale * edge
        known = cv2.GaussianBlur(both, (0, 0), sigma)
        own = cv2.GaussianBlur(crop[box].astype(np.float32) * both[..., None], (0, 0), sigma)
        theirs = cv2.GaussianBlur(mirrored[box][..., :3].astype(np.float32) * both[..., None], (0, 0), sigma)
        share = np.clip(known / MIRROR_KNOWN_SHARE, 0.0, 1.0)[..., None]
        gain = share * np.clip(own / np.maximum(theirs, 1.0), *MIRROR_GAIN_LIMITS) + (1.0 - share) * gain
    filled = crop.copy()
    filled[box][given[box]] = np.clip(np.round(mirrored[box][..., :3][given[box]] * gain[given[box]]), 0,
                                      255).astype(np.uint8)
    return _with_strands_painted(filled, given, strands, edge)


def _with_strands_painted(filled: np.ndarray, given: np.ndarray, strands: np.ndarray,
                          edge: float) -> tuple[np.ndarray, np.ndarray]:
    """(mask, pixels) of `given` and `strands` (bool) in `filled`, the strands painted over from the skin round
    them (Telea's fast-marching inpainting, OpenCV): mirrored, a strand on the lids brought the other eye's lash
    line with it as a liner's wing, and left as it was it read as one too."""
    if strands.any():
        filled = cv2.inpaint(filled, strands.astype(np.uint8), MIRROR_PAINT_RADIUS * edge, cv2.INPAINT_TELEA)
    mask = given | strands
    return mask, filled[mask]


def dark_masses(crop: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(joined, masses) uint8 crop masks of what is darker than the cheeks' skin: `joined` with strands
    closer than SOURCE_STRAND_GAP joined into the mass they form, `masses` that with the lines thinner than
    SOURCE_CREASE_WIDTH (creases, smile lines, lashes) opened away, leaving hair, beards and objects."""
    edge = face_edge_px(mesh)
    occluders = occluder_mask(crop, mesh, skin_from_cheeks=True).astype(np.uint8)
    joined = cv2.morphologyEx(occluders, cv2.MORPH_CLOSE, disk(max(1, int(round(SOURCE_STRAND_GAP * edge)))))
    return joined, cv2.morphologyEx(joined, cv2.MORPH_OPEN, disk(max(1, int(round(SOURCE_CREASE_WIDTH * edge)))))


def facial_hair(crop: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Bool crop mask of a beard and moustache on a face (`beard`; nothing on a shaven face): on a target
    it is hair in front of the face and stays, or a shaven source skin leaves a hole in it."""
    size = crop.shape[0]
    _, masses = dark_masses(crop, mesh)
    return beard(masses > 0, mesh, face_oval_mask(mesh, size, 0, 0) > 0.5, face_edge_px(mesh))


def beard(masses: np.ndarray, mesh: np.ndarray, oval: np.ndarray, edge: float) -> np.ndarray:
    """Bool crop mask of a beard: the dark masses below the nose, off the lips, when they fill more than
    SOURCE_BEARD_SHARE of the lower face; else nothing. Smile folds and jaw shadows fill 0.13–0.16 of it
    on the development set, a full beard 0.44. A beard is hair: pasted onto a shaven face it reads as a
    dark mask, so the photo's own lower face stays (and the photo's beard, if it has one)."""
    size = oval.shape[0]
    lower = np.zeros_like(oval)
    lower[int(mesh[2, 1]):] = True  # below the nose's base
    lips = grown(lips_and_opening(mesh, size), max(1, int(round(SOURCE_LIPS_MARGIN * edge))))
    hair = masses & lower & oval & ~lips
    return hair if hair.sum() > SOURCE_BEARD_SHARE * (oval & lower).sum() else np.zeros_like(hair)


def bearded_area(hair: np.ndarray) -> np.ndarray:
    """Bool crop mask of the area a beard frames: its convex hull. The skin it encloses (under the lower
    lip, between the moustache and the nose, its sparse edges) holds stubble that, toned to the photo's
    skin, reads as grey dirt on a shaven face (casar→biden)."""
    area = np.zeros(hair.shape, np.uint8)
    if hair.any():
        rows, cols = np.nonzero(hair)
        cv2.fillConvexPoly(area, cv2.convexHull(np.column_stack([cols, rows]).astype(np.int32)), 1)
    return area > 0


def mouth_corners(mesh: np.ndarray, size: int, edge: float) -> np.ndarray:
    """Bool crop mask of disks (SOURCE_CORNER_RADIUS) at the mouth's corners, where a smile's creases lie."""
    corners = np.zeros((size, size), np.uint8)
    radius = max(1, int(round(SOURCE_CORNER_RADIUS * edge)))
    for point in mesh[list(MOUTH_CORNER_POINTS)]:
        cv2.circle(corners, tuple(int(v) for v in np.round(point)), radius, 1, -1)
    return corners > 0


def features(mesh: np.ndarray, size: int) -> np.ndarray:
    """Bool crop mask of the eyes with their lids up to the brows, the brows and the nose (the identity-
    bearing features), as outlined by the mesh. The lids' shading and lashes join the temples' hair in the
    colour model's masses, so the eyes are grown by SOURCE_LID_MARGIN too. A fringe resting on a brow is
    as dark as the brow and travels with it: the brows carried most of the identity a fringe took away
    (gluesenkamp_perez→khanna: SFace 0.47 → 0.60 to the portrait, with `forehead_above_brows`). The
    mesh's brow outline is narrower than many brows, and the temples' hair, grown, cut the rest off
    with a hard edge (a blocky, cut-out brow): the brows are grown by SOURCE_BROW_MARGIN."""
    edge = face_edge_px(mesh)
    eyes = (region_mask(mesh, "eyes", size, feather_px=0) > 0.5).astype(np.uint8)
    mask = grown(eyes, max(1, int(round(SOURCE_LID_MARGIN * edge))))
    for region in ("eyeshadow", "nose"):
        mask |= region_mask(mesh, region, size, feather_px=0) > 0.5
    brows = (region_mask(mesh, "brows", size, feather_px=0) > 0.5).astype(np.uint8)
    return mask | grown(brows, max(1, int(round(SOURCE_BROW_MARGIN * edge))))


def _super_resolved(pixels: np.ndarray, face: Face, embedding: np.ndarray) -> SourceFace:
    """The source with the region around a small face super-resolved (Real-ESRGAN x4plus, BSD-3), so a
    256-px casting candidate or a small portrait face is not pasted as a soft blur.

    Real-ESRGAN draws a small face's eyes, lashes and brows as hard outlines (their edges 1.2–1.5 × the
    photo's around the eyes): blended half and half with a bicubic upscale, as ESRGAN's authors trade
    its detail against smoothness by interpolation (Wang et al. 2018, §3.4), they are 0.9–1.2 ×, and
    the composite's sharpness match restores the face's overall detail."""
    if face.width >= SUPER_RESOLVE_BELOW_PX:
        return SourceFace(pixels=pixels, face=face, embedding=embedding, original_face=face, detail_px=face.width)
    scale = int(min(4, np.ceil(SUPER_RESOLVE_BELOW_PX * 1.25 / face.width)))
    scale = max(2, scale)
    cx, cy = face.center
    half = SUPER_RESOLVE_REGION * max(face.width, face.height) / 2
    height, width = pixels.shape[:2]
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    small = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    drawn = upscale(small, scale).astype(np.float32)
    smooth = cv2.resize(small, (drawn.shape[1], drawn.shape[0]), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    region = np.clip(np.round(SUPER_RESOLVE_GAN_SHARE * drawn + (1.0 - SUPER_RESOLVE_GAN_SHARE) * smooth),
                     0, 255).astype(np.uint8)
    x, y, w, h = face.box
    moved = Face(box=((x - x0) * scale, (y - y0) * scale, w * scale, h * scale),
                 landmarks5=((face.landmarks5 - (x0, y0)) * scale).astype(np.float32), score=face.score,
                 roll=face.roll)
    return SourceFace(pixels=region, face=moved, embedding=embedding, original_face=face, detail_px=face.width,
                      super_resolved=scale)


def face_box_corners(face: Face, scale: float) -> np.ndarray:
    """The 4 image-space corners of the face box scaled about its centre and turned by its roll."""
    cx, cy = face.center
    half = np.array([face.width, face.height]) * scale / 2.0
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * half
    angle = np.radians(face.roll)  # positive: turned clockwise on screen (y points down)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ rotation.T + (cx, cy)


def outside_fraction(face: Face, shape: tuple[int, ...]) -> float:
    """The share of the face box (turned with the face) that lies outside the image."""
    corners = face_box_corners(face, 1.0).astype(np.float32)
    height, width = shape[:2]
    area = max(1.0, float(cv2.contourArea(corners)))
    inside, _ = cv2.intersectConvexConvex(corners, np.array([[0, 0], [width, 0], [width, height], [0, height]],
                                                            np.float32))
    return float(np.clip(1.0 - inside / area, 0.0, 1.0))


def eye_margin(face: Face, shape: tuple[int, ...]) -> float:
    """The distance of the eye centre nearest the image border from it, in face widths."""
    height, width = shape[:2]
    eyes = face.landmarks5[:2]
    nearest = float(np.min([eyes[:, 0], eyes[:, 1], width - eyes[:, 0], height - eyes[:, 1]]))
    return nearest / max(face.width, 1e-6)


def cut_by_frame(face: Face, shape: tuple[int, ...]) -> bool:
    """True when the face is not an identifiable portrait in this photo: an eye outside it, or much of
    the face box beyond the frame (shop photos often cut the head above the nose)."""
    return bool(eye_margin(face, shape) < TARGET_EYE_MARGIN or outside_fraction(face, shape) > TARGET_MAX_CUT)


def find_targets(image: np.ndarray, selection: FaceSelection, reference_embedding: np.ndarray | None) -> list[Face]:
    """The selected faces of the working image; errors say it is the target."""
    try:
        return find_faces(image, selection, reference_embedding=reference_embedding, min_face_px=MIN_TARGET_FACE_PX)
    except NoFaceFound:
        raise NoFaceFound("no face was found in the target photo", role="target") from None
    except FaceTooSmall as exc:
        raise FaceTooSmall(f"the target photo's face is too small: {exc.message}", role="target",
                           **exc.details) from None


def composite_template(face: Face) -> str:
    """The smallest of COMPOSITE_TEMPLATES that holds the face at no less than its size in the photo (the
    largest when none does): small faces on big canvases work at 256."""
    for template in COMPOSITE_TEMPLATES:
        _, points = template_points(template)
        if np.sqrt(abs(np.linalg.det(similarity_matrix(face.landmarks5, points)[:, :2]))) >= 1.0:
            return template
    return COMPOSITE_TEMPLATES[-1]


def prepare_target(image: np.ndarray, face: Face, template: str) -> TargetFace:
    aligned = align_face(image, face, template)
    try:
        mesh = face_mesh(aligned.crop).astype(np.float64)
    except NoFaceFound:
        box = ", ".join(f"{v:.0f}" for v in face.box)
        raise NoFaceFound(f"the target face at box [{box}] could not be meshed (too turned or covered)",
                          role="target", box=[round(float(v), 1) for v in face.box]) from None
    return TargetFace(face=face, aligned=aligned, mesh=mesh, hands=hand_mask(image, face, aligned))


# ---- a prepared source kept with its virtual model -------------------------------------------------------
PREPARED_FORMAT = 6  # the layout of `prepared_arrays`; a reader refuses another
# Layouts a reader still takes, each with the arrays whose meaning has changed since, which it computes
# again (1: clean masks from before the brows and lids travelled and the lips and mouth corners stayed;
# 2: from before the whole brow travelled, SOURCE_BROW_MARGIN; 3: from before the rim stayed, SOURCE_RIM;
# 4: from before a covered side was filled from the other, `mirror_filled`; 5: from before that fill stopped
# just above the brows, MIRROR_ABOVE_BROWS).
OLDER_FORMATS = {1: ("clean",), 2: ("clean",), 3: ("clean",), 4: ("clean",), 5: ("clean",)}


def _face_arrays(prefix: str, face: Face) -> dict[str, np.ndarray]:
    return {f"{prefix}-box": np.asarray(face.box, np.float64), f"{prefix}-landmarks5": face.landmarks5,
            f"{prefix}-score-roll": np.array([face.score, face.roll], np.float64)}


def _face_from(arrays, prefix: str) -> Face:
    score, roll = (float(v) for v in arrays[f"{prefix}-score-roll"])
    return Face(box=tuple(float(v) for v in arrays[f"{prefix}-box"]), landmarks5=arrays[f"{prefix}-landmarks5"],
                score=score, roll=roll)


def prepared_arrays(source: SourceFace, templates: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The prepared source as named arrays (stored as one `.npz` with its virtual model): the pixels it
    uses (super-resolved around the face when it was small), the face as found and as used, the SFace
    embedding, and for each of `templates` the 478-point mesh, its depths, the clean-skin mask (`clean`) and
    the mirrored fill's mask and pixels (`mirrormask`, `mirrorpixels`: `SourceFace.crop`) and the lips'
    (`lips`: `SourceFace.lips`), so a swap
    computes none of them again (a source stored without depths measures them on first use).
    `source_from_arrays` gives back a SourceFace equal in every field."""
    arrays = {"format": np.array(PREPARED_FORMAT), "pixels": source.pixels, "embedding": source.embedding,
              "detail_px": np.array(source.detail_px, np.float64), "super_resolved": np.array(source.super_resolved),
              **_face_arrays("face", source.face)}
    if source.original_face is not None:
        arrays.update(_face_arrays("original_face", source.original_face))
    for template in templates:
        arrays[f"mesh-{template}"] = source.mesh(template)
        arrays[f"depth-{template}"] = source.depth(template)
        arrays[f"clean-{template}"] = source.clean(template)
        arrays[f"mirrormask-{template}"], arrays[f"mirrorpixels-{template}"] = source._mirrored[template]
        arrays[f"lips-{template}"] = source.lips(template)
    return arrays


def source_from_arrays(arrays: dict[str, np.ndarray]) -> SourceFace:
    """The SourceFace `prepared_arrays` stored (InvalidInput for another layout); meshes and clean masks of
    templates it did not store, or of an older layout whose masks meant something else (`OLDER_FORMATS`),
    are computed when first asked for, as for a source prepared on the fly."""
    found = int(arrays["format"]) if "format" in arrays else None
    if found != PREPARED_FORMAT and found not in OLDER_FORMATS:
        raise InvalidInput(f"the virtual model's prepared source has layout {found}; this swapper reads "
                           f"{PREPARED_FORMAT}: prepare it again", role="source")
    source = SourceFace(pixels=arrays["pixels"], face=_face_from(arrays, "face"), embedding=arrays["embedding"],
                        original_face=_face_from(arrays, "original_face") if "original_face-box" in arrays else None,
                        detail_px=float(arrays["detail_px"]), super_resolved=int(arrays["super_resolved"]))
    outdated = OLDER_FORMATS.get(found, ())
    for key, value in arrays.items():
        kind, _, template = key.partition("-")
        if kind == "mesh":
            source._meshes[template] = value
        elif kind == "depth":
            source._depths[template] = value
        elif kind == "clean" and "clean" not in outdated:
            source._clean[template] = value
            source._mirrored[template] = arrays[f"mirrormask-{template}"], arrays[f"mirrorpixels-{template}"]
            source._lips[template] = arrays[f"lips-{template}"]
    return source
