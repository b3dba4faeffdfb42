"""Variants of the realism development set, made by code, and the (source, target) pairs of every
failure kind of issue 13. Deterministic: the same pixels on every run (nothing here is committed).

    from tests.data.realism.make_variants import pairs, KINDS
    for pair in pairs():            # Pair(kind, name, source, target, identity, expect)
        ...

    python tests/data/realism/make_variants.py [OUT_DIR]   # writes every variant as PNG to look at
                                                          # (default test-artifacts/realism/variants)

`expect` is "swap" (a full face: the result must meet the issue's five criteria) or "unchanged" (a
face cut by the frame above the nose: it must be left as it is, with the reason). `identity` is the
clean source portrait, whose SFace embedding the result's identity is measured against (a source
with a fringe drawn on is still that person).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from shared.errors import NoFaceFound  # noqa: E402
from shared.faces import bgr_to_lab, image_face_mesh, lab_to_bgr, largest_face, person_mask  # noqa: E402
from tests.data.realism import draw_strands, photo  # noqa: E402

CANVAS = (1024, 768)  # height, width: the shop plugins' upper- and full-body photos
GARMENTS = ((70, 40, 25), (40, 40, 44), (150, 180, 200), (225, 228, 230))  # BGR: navy, black, beige, white
KINDS = ("expression", "occluder", "resolution", "tone", "cut", "rotated", "small", "shop")


@dataclass(frozen=True)
class Pair:
    kind: str  # one of KINDS
    name: str  # "<source>→<target>" with the variants named
    source: np.ndarray
    target: np.ndarray
    identity: np.ndarray  # the clean source portrait (identity reference)
    expect: str  # "swap" | "unchanged"


# ---------------------------------------------------------------------------------------------- geometry

@lru_cache(maxsize=64)
def _face_and_mesh(name: str):
    image = photo(name)
    face = largest_face(image)
    return face, image_face_mesh(image, face).astype(np.float64)


def _face_width(image: np.ndarray) -> float:
    return largest_face(image).width


def scaled(image: np.ndarray, face_px: float) -> np.ndarray:
    """The whole picture resized so its face is `face_px` wide (INTER_AREA down, cubic up)."""
    scale = face_px / _face_width(image)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)


# ---------------------------------------------------------------------------------------------- variants

def studio_backdrop(shape=CANVAS, seed: int = 0) -> np.ndarray:
    """A seamless studio paper backdrop: light warm grey, darker towards the floor, faint grain."""
    height, width = shape
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    level = 236.0 - 28.0 * y ** 1.5 - 10.0 * x ** 2
    base = np.stack([level - 4.0, level - 1.0, level + 0.0], -1)  # BGR: a touch warm
    base += rng.normal(0.0, 1.6, base.shape).astype(np.float32)
    return np.clip(base, 0, 255).astype(np.uint8)


def shop_canvas(portrait: np.ndarray, face_px: float = 200.0, face_top: float = 0.10, seed: int = 0) -> np.ndarray:
    """The portrait's person (MediaPipe selfie mask) on a 768×1024 studio backdrop, scaled so the face
    is `face_px` wide and its top `face_top` of the way down, the clothing at the portrait's lower edge
    carried on to the bottom of the frame as a torso: a shop's upper-body (200 px) or full-body
    (24–40 px) shot."""
    height, width = CANVAS
    original_face = largest_face(portrait)
    scale = face_px / original_face.width
    person = cv2.resize(portrait, None, fx=scale, fy=scale,
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    face_x = (original_face.box[0] + original_face.box[2] / 2) * scale
    face_y = original_face.box[1] * scale
    alpha = cv2.GaussianBlur(person_mask(person), (0, 0), max(0.6, face_px / 120))
    canvas = studio_backdrop(CANVAS, seed).astype(np.float32)
    x0 = int(round(width / 2 - face_x))
    y0 = int(round(face_top * height - face_y))
    # paste with clipping on every side
    sy0, sx0 = max(0, -y0), max(0, -x0)
    dy0, dx0 = max(0, y0), max(0, x0)
    h = min(person.shape[0] - sy0, height - dy0)
    w = min(person.shape[1] - sx0, width - dx0)
    a = alpha[sy0:sy0 + h, sx0:sx0 + w, None]
    canvas[dy0:dy0 + h, dx0:dx0 + w] = (person[sy0:sy0 + h, sx0:sx0 + w] * a
                                        + canvas[dy0:dy0 + h, dx0:dx0 + w] * (1 - a))
    body_top = dy0 + h  # the portrait's lower edge on the canvas
    if body_top < height:
        _draw_body(canvas, person, alpha, dx0 - sx0, body_top, face_px, seed)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def _draw_body(canvas: np.ndarray, person: np.ndarray, alpha: np.ndarray, x_offset: int, top: int,
               face_px: float, seed: int) -> None:
    """A clothed body below the portrait's lower edge: a garment (a shop's product colour, shaded, with
    grain) as wide as the portrait's lower edge, widening a little to the hips three faces further down, then two legs
    in darker trousers down to the frame's bottom."""
    height, width = canvas.shape[:2]
    rng = np.random.default_rng(seed + 1)
    rows = max(2, int(face_px * 0.1))
    covered = alpha[-rows:] > 0.5
    columns = np.nonzero(covered.any(0))[0]
    if len(columns) == 0:
        return
    left, right = x_offset + columns.min(), x_offset + columns.max()
    color = np.float32(GARMENTS[seed % len(GARMENTS)])
    hips = min(height, top + int(3.0 * face_px * 1.3))
    centre, half = (left + right) / 2.0, (right - left) / 2.0
    torso = np.zeros((height, width), np.uint8)
    cv2.fillPoly(torso, [np.round(np.array([[left, top], [right, top], [centre + 0.92 * half, hips],
                                            [centre - 0.92 * half, hips]])).astype(np.int32)], 1)
    legs = np.zeros((height, width), np.uint8)
    gap = 0.06 * half
    for sign in (-1, 1):
        inner, outer = centre + sign * gap, centre + sign * 0.85 * half
        cv2.fillPoly(legs, [np.round(np.array([[inner, hips], [outer, hips], [centre + sign * 0.6 * half, height],
                                                [centre + sign * gap * 2, height]])).astype(np.int32)], 1)
    y = np.arange(height, dtype=np.float32)[:, None, None]
    for mask, tint in ((torso, color), (legs, color * 0.55)):
        region = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.6, face_px / 150))[:, :, None]
        shade = 1.0 - 0.12 * np.clip((y - top) / max(1.0, height - top), 0, 1)
        fabric = tint * shade + rng.normal(0.0, 2.0, canvas.shape).astype(np.float32)
        canvas[:] = fabric * region + canvas * (1 - region)


def cut_by_frame(image: np.ndarray) -> np.ndarray:
    """The photo with everything above the middle of eyes-to-nose cut off: the eyes are outside it."""
    face = largest_face(image)
    eyes_y = float(np.mean(face.landmarks5[:2, 1]))
    nose_y = float(face.landmarks5[2, 1])
    return image[int(round((eyes_y + nose_y) / 2)):].copy()


def rotated(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """The photo turned by 90° × `quarter_turns` counter-clockwise (a lying or handstand pose)."""
    return np.ascontiguousarray(np.rot90(image, quarter_turns))


def tone_shifted(image: np.ndarray, delta_lab=(-14.0, 3.0, 7.0)) -> np.ndarray:
    """The whole photo moved in CIELAB (default: darker, warmer): the same person as a darker body, so a
    light source must be brought to this body's tone."""
    return lab_to_bgr(bgr_to_lab(image) + np.asarray(delta_lab, np.float32))


def over_exposed(image: np.ndarray, stops: float) -> np.ndarray:
    """The photo `stops` stops brighter, as a camera renders it: linear light (display gamma 2.2) × 2^stops
    through a soft shoulder (Reinhard's x(1 + k)/(1 + kx), k = 1/4, which leaves white at white), so a fair
    skin's lit side fades to white and clips while its shaded side keeps its colour (a high-key studio shot)."""
    linear = (image.astype(np.float32) / 255.0) ** 2.2 * 2.0 ** stops
    shoulder = linear * 1.25 / (1.0 + 0.25 * linear)
    return np.clip(shoulder ** (1 / 2.2) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def with_fringe(image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """A dense dark fringe (many strands) drawn from the hairline down towards the brows."""
    return draw_strands(image, mesh, count=28, color=(22, 26, 34))


def with_glasses(image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Dark rectangular glasses' frames drawn around both eyes, with bridge and temples."""
    out = image.copy()
    width = float(np.linalg.norm(mesh[454] - mesh[234]))
    thickness = max(2, int(round(width / 45)))
    rims = []
    for outer, inner, top, bottom in ((33, 133, 159, 145), (263, 362, 386, 374)):
        cx, cy = (mesh[outer] + mesh[inner]) / 2.0
        half_w = 0.75 * abs(mesh[outer, 0] - mesh[inner, 0])
        half_h = 0.45 * half_w
        rims.append((cx, cy, half_w, half_h))
        cv2.rectangle(out, (int(cx - half_w), int(cy - half_h)), (int(cx + half_w), int(cy + half_h)),
                      (25, 25, 30), thickness, cv2.LINE_AA)
    (lx, ly, lw, _), (rx, ry, rw, _) = sorted(rims)
    cv2.line(out, (int(lx + lw), int(ly)), (int(rx - rw), int(ry)), (25, 25, 30), thickness, cv2.LINE_AA)
    cv2.line(out, (int(lx - lw), int(ly)), (int(mesh[234, 0]), int(mesh[234, 1] - 0.05 * width)), (25, 25, 30),
             thickness, cv2.LINE_AA)
    cv2.line(out, (int(rx + rw), int(ry)), (int(mesh[454, 0]), int(mesh[454, 1] - 0.05 * width)), (25, 25, 30),
             thickness, cv2.LINE_AA)
    return out


# ---------------------------------------------------------------------------------------------- pairs

@dataclass(frozen=True)
class PairSpec:
    """A pair by name: photos and the variant made of each (built by `build`)."""
    kind: str
    source: str
    target: str
    source_variant: str = ""  # "", "fringe", "glasses", "face78", "face128"
    target_variant: str = ""  # "", "darker", "shop", "shop-cut", "cut", "rot180", "shop-rot90", "full36", "full28",
    # "shop<px>" (a shop canvas with a face <px> wide), "shop-over1", "shop-over2" (one and two stops over)
    expect: str = "swap"

    @property
    def name(self) -> str:
        source = self.source + (f"+{self.source_variant}" if self.source_variant else "")
        target = self.target + (f"+{self.target_variant}" if self.target_variant else "")
        return f"{source}→{target}"

    @property
    def source_occluded(self) -> bool:
        """The source face is partly covered (glasses, a fringe, a hat): refusing it with the reason is
        an acceptable answer (issue 13: a portrait that cannot make a clean source is refused)."""
        from tests.data.realism import PHOTOS
        tags = set(PHOTOS[self.source]["tags"])
        return self.source_variant in ("fringe", "glasses") or bool(tags & {"glasses", "fringe", "hat"})

    @property
    def upright_turns(self) -> int:
        """Quarter turns (np.rot90) that bring the target back upright, for measuring."""
        return {"rot180": 2, "shop-rot90": 3}.get(self.target_variant, 0)


SPECS: tuple[PairSpec, ...] = (
    # 1. expression: smiling sources with teeth into closed mouths (and a closed mouth into a smile)
    PairSpec("expression", "sewell", "ocasio_cortez"),
    PairSpec("expression", "khanna", "hopper"),
    PairSpec("expression", "obama", "biden"),
    PairSpec("expression", "ocasio_cortez", "blunt_rochester"),
    # 2. occluders on the source: real fringes and glasses, and drawn ones
    PairSpec("occluder", "gluesenkamp_perez", "khanna"),
    PairSpec("occluder", "astronaut", "sewell"),
    PairSpec("occluder", "scholten", "casar"),
    PairSpec("occluder", "hopper", "obama"),
    PairSpec("occluder", "ocasio_cortez", "scholten", source_variant="fringe"),
    PairSpec("occluder", "khanna", "ocasio_cortez", source_variant="glasses"),
    # 3. resolution: small sources into large targets
    PairSpec("resolution", "ocasio_cortez", "khanna", source_variant="face78"),
    PairSpec("resolution", "sewell", "scholten", source_variant="face128"),
    PairSpec("resolution", "khanna", "casar", source_variant="face128"),
    # 4. tone: light on dark, dark on light, a darkened body
    PairSpec("tone", "gluesenkamp_perez", "sewell"),
    PairSpec("tone", "sewell", "gluesenkamp_perez"),
    PairSpec("tone", "ocasio_cortez", "khanna", target_variant="darker"),
    PairSpec("tone", "clyburn", "matsui"),
    # 5. cut by the frame above the nose: leave the face alone
    PairSpec("cut", "ocasio_cortez", "khanna", target_variant="shop-cut", expect="unchanged"),
    PairSpec("cut", "obama", "scholten", target_variant="cut", expect="unchanged"),
    # 7. rotated bodies
    PairSpec("rotated", "sewell", "ocasio_cortez", target_variant="rot180"),
    PairSpec("rotated", "khanna", "casar", target_variant="shop-rot90"),
    # 8. small faces in full-body shots
    PairSpec("small", "ocasio_cortez", "sykes", target_variant="full36"),
    PairSpec("small", "obama", "khanna", target_variant="full28"),
    # shop-like upper-body photos
    PairSpec("shop", "sykes", "obama"),
    PairSpec("shop", "casar", "biden"),
    PairSpec("shop", "matsui", "ocasio_cortez", target_variant="shop"),
    PairSpec("shop", "blunt_rochester", "scholten", target_variant="shop"),
    PairSpec("shop", "scholten", "blunt_rochester", target_variant="shop"),
)

# A wider set for a second look (`bench/realism.py --cross`), not tuned on: two portraits of the kinds a
# shop casts (the astronaut: a fringe and a small face, super-resolved; ocasio_cortez: a closed mouth) on
# every upright target without glasses, as it is and on a shop canvas (biden's and obama's photos are shop
# framings already).
CROSS_SOURCES = ("astronaut", "ocasio_cortez")
CROSS_TARGETS = ("biden", "obama", "khanna", "casar", "ocasio_cortez", "blunt_rochester", "sewell", "matsui",
                 "gluesenkamp_perez")
CROSS_SPECS: tuple[PairSpec, ...] = tuple(
    PairSpec("cross", source, target, target_variant=variant)
    for source in CROSS_SOURCES for target in CROSS_TARGETS if target != source
    for variant in (("",) if target in ("biden", "obama") else ("", "shop")))

# Face widths between the full-body shots' 24–40 px and the upper-body shots' 200 px, a shop's three-quarter
# and knee-length framings (`bench/realism.py --sizes`, not tuned on): the same two portraits on four targets
# of different skin tones, each on a shop canvas with its face 48, 64, 96 and 128 px wide.
SIZE_FACES_PX = (48, 64, 96, 128)
SIZE_TARGETS = ("khanna", "sewell", "matsui", "blunt_rochester")
SIZE_SPECS: tuple[PairSpec, ...] = tuple(
    PairSpec("sizes", source, target, target_variant=f"shop{face_px}")
    for face_px in SIZE_FACES_PX for target in SIZE_TARGETS for source in CROSS_SOURCES)

# Full-body shots (`bench/realism.py --full-body`, not tuned on): faces drawn 24, 30 and 36 px wide, the issue's
# full-body range, with five portraits on six targets of different skin tones, hair and facial hair.
FULL_BODY_FACES_PX = (24, 30, 36)
FULL_BODY_SOURCES = ("astronaut", "ocasio_cortez", "obama", "sewell", "matsui")
FULL_BODY_TARGETS = ("khanna", "sewell", "matsui", "blunt_rochester", "casar", "gluesenkamp_perez")
FULL_BODY_SPECS: tuple[PairSpec, ...] = tuple(
    PairSpec("full-body", source, target, target_variant=f"shop{face_px}")
    for face_px in FULL_BODY_FACES_PX for target in FULL_BODY_TARGETS for source in FULL_BODY_SOURCES
    if source != target)


# Heads turned from the camera (`bench/realism.py --turned`, not tuned on): the same two portraits on nine
# official portraits taken in three-quarter view, as they are and on a shop canvas.
TURNED_TARGETS = ("c001035", "c001130", "c001127", "s001218", "l000397", "h001095", "f000459", "g000559", "b001257")
TURNED_SPECS: tuple[PairSpec, ...] = tuple(
    PairSpec("turned", source, target, target_variant=variant)
    for source in CROSS_SOURCES for target in TURNED_TARGETS for variant in ("", "shop"))


# High-key shop photos (`bench/realism.py --high-key`, new in the eighteenth session): the same two portraits on six
# targets of different skin tones on a shop canvas, one and two stops over (`over_exposed`): a fair skin's lit
# side fades to white and clips, a dark skin stays in range.
HIGH_KEY_TARGETS = ("khanna", "sewell", "matsui", "blunt_rochester", "casar", "gluesenkamp_perez")
HIGH_KEY_SPECS: tuple[PairSpec, ...] = tuple(
    PairSpec("high-key", source, target, target_variant=f"shop-over{stops}")
    for stops in (1, 2) for target in HIGH_KEY_TARGETS for source in CROSS_SOURCES)


def _source_variant(name: str, variant: str) -> np.ndarray:
    image = photo(name)
    if variant == "":
        return image
    if variant in ("fringe", "glasses"):
        _, mesh = _face_and_mesh(name)
        return (with_fringe if variant == "fringe" else with_glasses)(image, mesh)
    if variant.startswith("face"):
        return scaled(image, float(variant[4:]))
    raise KeyError(f"unknown source variant {variant!r}")


def _target_variant(name: str, variant: str, seed: int) -> np.ndarray:
    image = photo(name)
    makers = {"": lambda: image, "darker": lambda: tone_shifted(image),
              "shop": lambda: shop_canvas(image, seed=seed), "shop-cut": lambda: cut_by_frame(shop_canvas(image)),
              "cut": lambda: cut_by_frame(image), "rot180": lambda: rotated(image, 2),
              "shop-rot90": lambda: rotated(shop_canvas(image, seed=seed), 1),
              "full36": lambda: shop_canvas(image, 36, 0.06, seed=seed),
              "full28": lambda: shop_canvas(image, 28, 0.06, seed=seed),
              "shop-over1": lambda: over_exposed(shop_canvas(image, seed=seed), 1.0),
              "shop-over2": lambda: over_exposed(shop_canvas(image, seed=seed), 2.0)}
    if variant not in makers and variant.startswith("shop") and variant[4:].isdigit():  # "shop96": a 96-px face
        face_px = int(variant[4:])
        return shop_canvas(image, face_px, 0.10 if face_px > 60 else 0.06, seed=seed)
    return makers[variant]()


def build(spec: PairSpec) -> Pair:
    """The pictures of one pair (deterministic)."""
    seed = SPECS.index(spec) if spec in SPECS else 0
    return Pair(kind=spec.kind, name=spec.name, source=_source_variant(spec.source, spec.source_variant),
                target=_target_variant(spec.target, spec.target_variant, seed), identity=photo(spec.source),
                expect=spec.expect)


def pairs(kinds: tuple[str, ...] | None = None) -> list[Pair]:
    """Every (source, target) pair of the development set, grouped by failure kind (see README.md)."""
    return [build(spec) for spec in SPECS if kinds is None or spec.kind in kinds]


MEASURE_MIN_FACE_PX = 16  # the measuring side finds the target's face from this size (small faces too)


def measure(spec: PairSpec, pair: Pair, output: np.ndarray, thresholds=None) -> dict:
    """The realism figures of a swapped pair: the target's largest face (turned back upright first),
    its mesh, the clean source's embedding. Returns {figures, criteria, passed, face, target, result}
    (target/result upright)."""
    from shared.faces import FaceSelection, find_faces, identity_embedding, meets_criteria, realism_figures

    turns = spec.upright_turns
    target = np.ascontiguousarray(np.rot90(pair.target, turns))
    result = np.ascontiguousarray(np.rot90(output, turns))
    face = max(find_faces(target, FaceSelection(), min_face_px=MEASURE_MIN_FACE_PX), key=lambda f: f.area)
    mesh = image_face_mesh(target, face)
    embedding = identity_embedding(pair.identity, largest_face(pair.identity))
    # where the result's own brows and eyes are, as MediaPipe sees them (none: every dark pixel counts)
    try:
        shown = image_face_mesh(result, face)
    except NoFaceFound:
        shown = None
    figures = realism_figures(target, result, mesh, face, embedding, result_mesh=shown)
    criteria = meets_criteria(figures, thresholds)
    return {"figures": figures, "criteria": criteria, "passed": all(criteria.values()), "face": face,
            "target": target, "result": result}


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for pair in pairs():
        stem = pair.name.replace("→", "__").replace("@", "_").replace("+", "_")
        cv2.imwrite(str(out_dir / f"{pair.kind}-{stem}-source.png"), pair.source)
        cv2.imwrite(str(out_dir / f"{pair.kind}-{stem}-target.png"), pair.target)
    print(f"wrote {len(pairs())} pairs to {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("test-artifacts/realism/variants"))
