"""Casting logic in latent space, free of any network: categories, briefs, "more like this", mixes.

A *category* (elegant, innocent, …) is a unit direction in one engine's latent space with a default
strength; it is learned from latents a seller marked as fitting / not fitting (`fit_direction`) and
kept per weights file in the model store (`directions.<weights>` JSON + `.vectors` npy records).
A free-text *brief* maps to categories through operator-configured keywords (`parse_brief`).
"More like this" samples around chosen latents (`sample_near`). The gateway imports this module
to fit, list and check categories; the generator stage applies them.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.errors import InvalidInput, TransientError, WeightsMismatch
from shared.weights import ModelStore

MIN_EXAMPLES = 10
CATEGORY_NAME = re.compile(r"^[\w-]{1,40}$")
DEFAULT_KEYWORDS_PATH = Path(__file__).with_name("brief_keywords.json")
KEYWORDS_RECORD = "generator-brief-keywords"  # an operator's own keyword file in the model store
DIRECTIONS_LICENCE = "FaceCast operator data (fitted from seller-labelled latents)"


# ---- directions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Direction:
    """A unit vector in latent space; `default_strength` is the move that takes a typical
    non-fitting face to a typical fitting one (latent units along the vector)."""
    name: str
    vector: np.ndarray
    default_strength: float
    source: str = ""


@dataclass(frozen=True)
class FitResult:
    vector: np.ndarray  # unit length, float32
    default_strength: float
    training_accuracy: float  # share of the examples on the right side of the midpoint
    shrinkage: float  # Ledoit-Wolf weight of the identity target in the covariance


def _as_latent_matrix(latents, what: str) -> np.ndarray:
    array = np.asarray(latents, dtype=np.float64)
    if array.ndim != 2:
        raise InvalidInput(f"{what}: expected a list of latent vectors (2-D), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInput(f"{what}: latents contain NaN or infinity")
    return array


def fit_direction(latents_pos, latents_neg, min_examples: int = MIN_EXAMPLES) -> FitResult:
    """Linear discriminant (LDA) between fitting and non-fitting latents, as a unit vector.

    Latent spaces such as StyleGAN2's W are far from isotropic, where the plain difference of means
    points along the high-variance axes rather than along the attribute; LDA whitens by the
    within-class covariance first. With few examples in many dimensions that covariance is
    singular, so it is shrunk toward a scaled identity by the Ledoit-Wolf rule (with 10 + 10
    examples this is nearly the difference of means, the best that so few examples allow).
    """
    pos = _as_latent_matrix(latents_pos, "fitting examples")
    neg = _as_latent_matrix(latents_neg, "non-fitting examples")
    if pos.shape[1] != neg.shape[1]:
        raise InvalidInput(f"fitting and non-fitting latents differ in dimension: {pos.shape[1]} vs {neg.shape[1]}")
    if len(pos) < min_examples or len(neg) < min_examples:
        raise InvalidInput(f"teaching a category needs at least {min_examples} fitting and {min_examples} "
                           f"non-fitting examples; got {len(pos)} and {len(neg)}")
    mean_pos, mean_neg = pos.mean(0), neg.mean(0)
    gap = mean_pos - mean_neg
    if not np.linalg.norm(gap) > 0:
        raise InvalidInput("the fitting and non-fitting examples have the same mean: nothing to learn")
    centred = np.concatenate([pos - mean_pos, neg - mean_neg])
    covariance, shrinkage = _ledoit_wolf(centred)
    vector = np.linalg.solve(covariance, gap)
    vector /= np.linalg.norm(vector)
    midpoint = (mean_pos + mean_neg) @ vector / 2
    correct = (pos @ vector > midpoint).sum() + (neg @ vector <= midpoint).sum()
    return FitResult(vector=vector.astype(np.float32), default_strength=float(gap @ vector),
                     training_accuracy=float(correct / (len(pos) + len(neg))), shrinkage=shrinkage)


def _ledoit_wolf(centred: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrunk covariance (1-λ)·S + λ·mean(diag S)·I with the Ledoit-Wolf (2004) optimal λ."""
    n, dim = centred.shape
    sample = centred.T @ centred / n
    scale = np.trace(sample) / dim
    if scale == 0.0:
        raise InvalidInput("all examples are identical within each group: nothing to learn")
    target_gap = ((sample - scale * np.eye(dim)) ** 2).sum()
    if target_gap == 0.0:
        return sample, 0.0
    squared_norms = (centred * centred).sum(1)
    per_sample = squared_norms ** 2 - 2 * np.einsum("ij,jk,ik->i", centred, sample, centred) + (sample ** 2).sum()
    spread = min(per_sample.sum() / n ** 2, target_gap)
    shrinkage = float(spread / target_gap)
    return (1 - shrinkage) * sample + shrinkage * scale * np.eye(dim), shrinkage


class DirectionLibrary:
    """The categories of one weights file: name → Direction, all of dimension `dim`."""

    def __init__(self, dim: int, weights_sha256: str, directions: dict[str, Direction] | None = None):
        self.dim = dim
        self.weights_sha256 = weights_sha256
        self.directions: dict[str, Direction] = {}
        for direction in (directions or {}).values():
            self.add(direction)

    def names(self) -> list[str]:
        return sorted(self.directions)

    def add(self, direction: Direction) -> None:
        if not CATEGORY_NAME.match(direction.name):
            raise InvalidInput(f"category name {direction.name!r}: use 1-40 letters, digits, '_' or '-'")
        vector = np.asarray(direction.vector, dtype=np.float32).reshape(-1)
        if vector.size != self.dim:
            raise InvalidInput(f"direction {direction.name!r} has dimension {vector.size}; this engine's latents "
                               f"have dimension {self.dim}")
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise InvalidInput(f"direction {direction.name!r} is zero or not finite")
        self.directions[direction.name] = Direction(direction.name, vector / norm, float(direction.default_strength),
                                                    direction.source)

    def get(self, name: str) -> Direction:
        if name not in self.directions:
            known = ", ".join(self.names()) or "none yet (teach one from ≥10 fitting and ≥10 non-fitting faces)"
            raise InvalidInput(f"unknown category {name!r} for these weights; known categories: {known}",
                               category=name)
        return self.directions[name]

    def steering(self, requests: list[tuple[str, float | None]]) -> tuple[np.ndarray, list[dict]]:
        """The summed offset for (category, strength or None = its default) pairs, and what was applied."""
        offset = np.zeros(self.dim, np.float32)
        applied = []
        for name, strength in requests:
            direction = self.get(name)
            used = direction.default_strength if strength is None else float(strength)
            offset += np.float32(used) * direction.vector
            applied.append({"category": name, "strength": used})
        return offset, applied

    # files: JSON (names, strengths, sources, row order) + one npy matrix [K, dim]
    def to_files(self) -> tuple[bytes, bytes]:
        names = self.names()
        matrix = np.stack([self.directions[n].vector for n in names]) if names else np.zeros((0, self.dim), np.float32)
        buffer = io.BytesIO()
        np.save(buffer, matrix.astype(np.float32), allow_pickle=False)
        vectors = buffer.getvalue()
        meta = {"format": "facecast-directions-v1", "dim": self.dim, "weights_sha256": self.weights_sha256,
                "vectors_sha256": hashlib.sha256(vectors).hexdigest(),
                "directions": {n: {"row": i, "default_strength": self.directions[n].default_strength,
                                   "source": self.directions[n].source} for i, n in enumerate(names)}}
        return json.dumps(meta, indent=2, ensure_ascii=False).encode(), vectors

    @classmethod
    def from_files(cls, meta_bytes: bytes, vector_bytes: bytes) -> "DirectionLibrary":
        meta = json.loads(meta_bytes)
        if meta.get("format") != "facecast-directions-v1":
            raise InvalidInput(f"not a FaceCast directions file (format {meta.get('format')!r})")
        if hashlib.sha256(vector_bytes).hexdigest() != meta["vectors_sha256"]:
            raise TransientError("directions JSON and vectors are from different versions (an update is in "
                                 "progress?); try again")
        matrix = np.load(io.BytesIO(vector_bytes), allow_pickle=False)
        library = cls(int(meta["dim"]), meta["weights_sha256"])
        if matrix.ndim != 2 or matrix.shape[1] != library.dim:
            raise InvalidInput(f"directions matrix has shape {matrix.shape}, expected [K, {library.dim}]")
        for name, entry in meta["directions"].items():
            library.add(Direction(name, matrix[entry["row"]], entry["default_strength"], entry.get("source", "")))
        return library


def _record_names(weights_name: str) -> tuple[str, str]:
    return f"directions.{weights_name}", f"directions.{weights_name}.vectors"


def load_directions(store: ModelStore, weights_name: str, weights_sha256: str,
                    dim: int | None = None) -> DirectionLibrary:
    """The categories saved for a weights file (an empty library when none were taught yet).

    `dim` is the engine's latent size, checked when known."""
    meta_name, vectors_name = _record_names(weights_name)
    if meta_name not in store.records():
        return DirectionLibrary(dim or 0, weights_sha256)
    library = DirectionLibrary.from_files(store.path(meta_name).read_bytes(), store.path(vectors_name).read_bytes())
    if library.weights_sha256 != weights_sha256:
        raise WeightsMismatch(f"the categories saved for {weights_name!r} were fitted on weights "
                              f"{library.weights_sha256[:12]}…, but the model store now has {weights_sha256[:12]}…; "
                              "teach them again for the new weights")
    if dim is not None and library.dim != dim:
        raise InvalidInput(f"the categories saved for {weights_name!r} have dimension {library.dim}; "
                           f"the engine's latents have dimension {dim}")
    return library


def save_direction(store: ModelStore, weights_name: str, weights_sha256: str, dim: int, direction: Direction) -> None:
    """Add or replace one category of a weights file in the model store."""
    library = load_directions(store, weights_name, weights_sha256, dim)
    library.add(direction)
    meta, vectors = library.to_files()
    meta_name, vectors_name = _record_names(weights_name)
    with tempfile.TemporaryDirectory() as folder:
        meta_path, vectors_path = Path(folder) / "directions.json", Path(folder) / "directions.npy"
        meta_path.write_bytes(meta)
        vectors_path.write_bytes(vectors)
        provenance = dict(licence=DIRECTIONS_LICENCE, commercial_use=True, source=f"categories for {weights_name}")
        store.import_file(vectors_name, vectors_path, **provenance)  # vectors first: the JSON names their hash
        store.import_file(meta_name, meta_path, **provenance)


# ---- briefs -----------------------------------------------------------------------------------------
def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def load_keywords(store: ModelStore | None = None) -> dict[str, list[str]]:
    """category → keywords: the operator's file from the model store if imported, else the defaults."""
    path = DEFAULT_KEYWORDS_PATH
    if store is not None:
        if KEYWORDS_RECORD in store.records():
            path = store.path(KEYWORDS_RECORD)
    return parse_keywords(path.read_bytes())


def parse_keywords(raw: bytes) -> dict[str, list[str]]:
    try:
        data = json.loads(raw)
        categories = data["categories"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"brief keywords file must be JSON {{\"categories\": {{name: [keywords]}}}}: {exc}") from None
    keywords = {}
    for name, words in categories.items():
        if not CATEGORY_NAME.match(name) or not isinstance(words, list) or not all(
                isinstance(w, str) and w.strip() for w in words):
            raise InvalidInput(f"brief keywords: category {name!r} needs a valid name and a list of non-empty words")
        keywords[name] = [_normalise(w.strip()) for w in words]
    return keywords


def _keyword_pattern(keyword: str) -> re.Pattern:
    """ASCII keywords match whole words ("cool" not in "coolant"); others (Korean) match as substrings,
    so that a stem such as 청량 also finds 청량한, 청량하고, 청량감."""
    if keyword.isascii():
        return re.compile(r"(?<![\w])" + re.escape(keyword) + r"(?![\w])")
    return re.compile(re.escape(keyword))


def parse_brief(brief: str, keywords: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(category, matched keyword) pairs in the order they first appear in the brief, each category once."""
    text = _normalise(brief)
    hits: dict[str, tuple[int, str]] = {}
    for category, words in keywords.items():
        for word in words:
            match = _keyword_pattern(word).search(text)
            if match and (category not in hits or match.start() < hits[category][0]):
                hits[category] = (match.start(), word)
    return [(category, word) for category, (_, word) in sorted(hits.items(), key=lambda item: item[1][0])]


# ---- sampling near chosen faces -----------------------------------------------------------------
def sample_near(anchor: np.ndarray, random_latent: np.ndarray, center: np.ndarray, spread: float) -> np.ndarray:
    """A latent `spread` of the way from `anchor` toward an independent random face.

    Around the distribution's centre the two are combined with weights √(1-s²) and s, which keeps
    the distance from the centre typical (a straight blend would drift toward the average face).
    spread 0 returns the anchor itself; spread 1 the random face.
    """
    if not 0.0 <= spread <= 1.0:
        raise InvalidInput(f"spread must be in [0, 1], got {spread}")
    if spread == 0.0:
        return np.array(anchor, dtype=np.float32, copy=True)
    keep = np.sqrt(1.0 - spread * spread)
    return (center + keep * (anchor - center) + spread * (random_latent - center)).astype(np.float32)


def mix_latents(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """The blend (1-w)·first + w·second of two chosen faces."""
    if not 0.0 <= weight <= 1.0:
        raise InvalidInput(f"mix must be in [0, 1], got {weight}")
    return ((1.0 - weight) * first + weight * second).astype(np.float32)
