"""The face test set (made by make_testset.py): images, ground-truth boxes, and bad input files.

    from tests.data import testset, load_image, astronaut
    for sample in testset(kind="face"): image = load_image(sample.name); sample.faces[0].box
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from shared.images import decode_image

DATA_DIR = Path(__file__).resolve().parent
BAD_DIR = DATA_DIR / "bad"


@dataclass(frozen=True)
class TruthFace:
    box: tuple[float, float, float, float]  # x, y, w, h
    identity: str  # "astronaut" | "hopper"
    roll: float  # degrees, positive: turned clockwise on screen
    mirrored: bool


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    kind: str  # "face" | "no-face"
    size: tuple[int, int]  # width, height
    faces: tuple[TruthFace, ...]
    occluders: tuple[dict, ...]
    tags: tuple[str, ...]


@lru_cache(maxsize=1)
def _samples() -> tuple[Sample, ...]:
    meta = json.loads((DATA_DIR / "testset.json").read_text())
    return tuple(
        Sample(name=e["name"], path=DATA_DIR / e["file"], kind=e["kind"], size=tuple(e["size"]),
               faces=tuple(TruthFace(box=tuple(f["box"]), identity=f["identity"], roll=f["roll"],
                                     mirrored=f["mirrored"]) for f in e["faces"]),
               occluders=tuple(e["occluders"]), tags=tuple(e["tags"]))
        for e in meta["images"])


def testset(kind: str | None = None, tag: str | None = None) -> list[Sample]:
    """Samples, optionally only one kind ("face"/"no-face") or those with a tag ("rotated", ...)."""
    return [s for s in _samples() if (kind is None or s.kind == kind) and (tag is None or tag in s.tags)]


testset.__test__ = False  # a loader, not a test, when imported into a test module


def sample(name: str) -> Sample:
    for s in _samples():
        if s.name == name:
            return s
    raise KeyError(f"no test image named {name!r}")


def load_image(name: str) -> np.ndarray:
    """A test-set image as BGR uint8, decoded the way uploads are (shared.images.decode_image)."""
    return decode_image(sample(name).path.read_bytes()).pixels


def bad_input(filename: str) -> bytes:
    """Raw bytes of a file under bad/ (truncated.jpg, cmyk.jpg, grey16.png, grey.png, alpha.png,
    exif_rotated.jpg, not_an_image.png, empty.jpg)."""
    return (BAD_DIR / filename).read_bytes()


def astronaut() -> np.ndarray:
    """scikit-image's astronaut portrait (public domain), BGR, 512×512; face box in testset.json."""
    return load_image("portrait_astronaut")


def unrelated_face() -> np.ndarray:
    """Rep. Ocasio-Cortez's official portrait (public domain; realism/README.md): a different person from
    the astronaut, frontal, no glasses or fringe, so the swapper accepts it as a source (Grace Hopper's
    portrait shows glasses, which a source may not)."""
    from tests.data.realism import photo
    return photo("ocasio_cortez")
