"""The community ONNX face models that are not engines themselves: the ArcFace w600k recogniser that
gives swappers their source identity, the crossface embedding converters, the BiSeNet face parser and
the XSeg occluder. All run through `shared.onnx_runner`; their conventions are in
`shared.onnx_catalog`.

Pixels: crops are BGR uint8 (what cv2 and the face toolkit use); models take RGB. `image_tensor`
turns N crops into the NCHW float32 tensor `((RGB/255) − mean)/std`, `tensor_image` turns a model's
NCHW output back (undoing mean/std when the output is in the input's normalisation, else reading it
as RGB in [0, 1]), clipped and rounded to BGR uint8.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shared.faces.align import align_face
from shared.faces.types import Face
from shared.onnx_catalog import ARCFACE, CARDS, ModelCard
from shared.onnx_runner import OnnxModel, Signature, TensorSpec

EMBEDDING_SIZE = 512


def image_tensor(crops_bgr: np.ndarray | list[np.ndarray], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)) -> np.ndarray:
    """[N,H,W,3] BGR uint8 → [N,3,H,W] float32 ((RGB/255) − mean)/std."""
    crops = np.asarray(crops_bgr)
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"need [N,H,W,3] uint8 BGR crops, got {crops.shape} {crops.dtype}")
    rgb = crops[..., ::-1].astype(np.float32) / 255.0
    rgb = (rgb - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))


def tensor_image(tensor: np.ndarray, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), normalised: bool = True) -> np.ndarray:
    """[N,3,H,W] model output → [N,H,W,3] BGR uint8. `normalised`: the output is ((RGB/255) − mean)/std
    like the input (undone here); otherwise it is RGB in [0, 1]."""
    out = np.asarray(tensor, np.float32).transpose(0, 2, 3, 1)
    if normalised:
        out = out * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    return np.ascontiguousarray((np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8)[..., ::-1])


# ---- identity ----------------------------------------------------------------------------------------------
RECOGNISER_SIGNATURE = Signature(
    inputs=(TensorSpec("image", (), (None, 3, 112, 112)),),  # "input" (FaceFusion) or "input.1" (insightface)
    outputs=(TensorSpec("embedding", (), (None, EMBEDDING_SIZE)),))
CONVERTER_SIGNATURE = Signature(
    inputs=(TensorSpec("embedding", ("input",), (None, EMBEDDING_SIZE)),),
    outputs=(TensorSpec("embedding", (), (None, EMBEDDING_SIZE)),))


@dataclass(frozen=True)
class Identity:
    """A source identity: the mean of the raw w600k embeddings of its photos and the mean of their
    L2-normalised embeddings (FaceFusion's `average_face_identity` keeps both), each [512]."""
    embedding: np.ndarray
    embedding_norm: np.ndarray

    @classmethod
    def average(cls, embeddings: np.ndarray) -> "Identity":
        """From [K,512] raw embeddings of K photos of one person."""
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, EMBEDDING_SIZE)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise ValueError("an ArcFace embedding of norm 0: the recogniser output is not an embedding")
        return cls(embedding=embeddings.mean(0), embedding_norm=(embeddings / norms).mean(0))


class ArcFaceRecogniser:
    """InsightFace's w600k_r50 ArcFace (`arcface_w600k_r50.onnx`): 112-px crops on `arcface_112_v2`,
    RGB x/127.5 − 1, NCHW → [N,512] embeddings (not normalised)."""
    card: ModelCard = CARDS[ARCFACE]

    def __init__(self, model: OnnxModel):
        self.model = model

    def crop(self, pixels: np.ndarray, face: Face) -> np.ndarray:
        return align_face(pixels, face, self.card.template, border=cv2.BORDER_REPLICATE).crop

    def tensor(self, crops: np.ndarray) -> np.ndarray:
        return image_tensor(crops, self.card.mean, self.card.std)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """[N,112,112,3] BGR crops → [N,512] float32 raw embeddings."""
        return self.model.run({"image": self.tensor(crops)})["embedding"].reshape(len(crops), EMBEDDING_SIZE)

    def identity(self, photos: list[tuple[np.ndarray, Face]]) -> Identity:
        """The averaged identity of several photos (image, face) of one person."""
        return Identity.average(self.embed(np.stack([self.crop(pixels, face) for pixels, face in photos])))


def convert_embeddings(converter: OnnxModel, embeddings: np.ndarray) -> np.ndarray:
    """w600k embeddings [N,512] through a crossface converter (ghost's or simswap's identity space)."""
    return converter.run({"embedding": np.asarray(embeddings, np.float32).reshape(-1, EMBEDDING_SIZE)})["embedding"]


# ---- masks -------------------------------------------------------------------------------------------------
# BiSeNet face parsing on CelebAMask-HQ (zllrunning/face-parsing.PyTorch): 19 classes, argmax over [19,512,512]
PARSER_CLASSES = ("background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "glasses", "left_ear",
                  "right_ear", "earring", "nose", "mouth", "upper_lip", "lower_lip", "neck", "necklace", "cloth",
                  "hair", "hat")
PARSER_REGIONS = {
    "skin": ("skin",), "hair": ("hair",), "brows": ("left_brow", "right_brow"), "eyes": ("left_eye", "right_eye"),
    "lips": ("upper_lip", "lower_lip"), "mouth": ("mouth",), "nose": ("nose",),
    "occluders": ("glasses", "hat", "earring", "necklace", "cloth"),
}
PARSER_SIGNATURE = Signature(
    inputs=(TensorSpec("image", ("input",), (None, 3, 512, 512)),),
    outputs=(TensorSpec("logits", (), (None, len(PARSER_CLASSES), 512, 512)),))
OCCLUDER_SIGNATURE = Signature(
    inputs=(TensorSpec("image", ("input",), (None, 256, 256, 3)),),
    outputs=(TensorSpec("mask", (), (None, 256, 256, 1)),))


class FaceParser:
    """BiSeNet (`bisenet_resnet_18/34.onnx`, MIT): any square face crop, resized to 512, RGB with
    ImageNet mean/std → per-pixel class labels at the crop's size (`PARSER_CLASSES`)."""

    def __init__(self, model: OnnxModel, card: ModelCard):
        self.model, self.card = model, card

    def labels(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Label maps [H,W] uint8, one per BGR crop (nearest-neighbour back to each crop's size)."""
        size = self.card.size
        small = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA if c.shape[0] > size
                                     else cv2.INTER_LINEAR) for c in crops])
        logits = self.model.run({"image": image_tensor(small, self.card.mean, self.card.std)})["logits"]
        maps = logits.argmax(1).astype(np.uint8)
        return [cv2.resize(m, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_NEAREST) for m, c in zip(maps, crops)]

    @staticmethod
    def region(labels: np.ndarray, region: str) -> np.ndarray:
        """Bool mask of a region ("skin", "hair", "brows", "eyes", "lips", "mouth", "nose", "occluders")."""
        ids = [PARSER_CLASSES.index(name) for name in PARSER_REGIONS[region]]
        return np.isin(labels, ids)


class Occluder:
    """DeepFaceLab XSeg (`xseg_1/2/3.onnx`, GPL-3.0): a face crop resized to 256, NHWC in the crop's own
    BGR order, x/255 (as FaceFusion's face_masker feeds it) → [H,W] float32 in [0, 1] at the crop's
    size: 1 where the face is visible, 0 where something covers it."""

    def __init__(self, model: OnnxModel, card: ModelCard):
        self.model, self.card = model, card

    def visible(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        size = self.card.size
        small = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA if c.shape[0] > size
                                     else cv2.INTER_LINEAR) for c in crops]).astype(np.float32) / 255.0
        masks = np.clip(self.model.run({"image": small})["mask"][..., 0], 0.0, 1.0)
        return [cv2.resize(m, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR) for m, c in zip(masks, crops)]


# the parser classes that are the face itself; anything else inside the face outline covers it (hair, a hat,
# glasses, a hand or an object, which BiSeNet sees as background, cloth or neck)
FACE_CLASSES = ("skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose", "mouth", "upper_lip", "lower_lip")
PARSER_FILES = ("bisenet_resnet_34", "bisenet_resnet_18")  # first imported wins
OCCLUDER_FILES = ("xseg_1", "xseg_2", "xseg_3")


@dataclass
class FaceMasks:
    """The imported mask models (either may be None) and their model-store records."""
    parser: FaceParser | None
    occluder: Occluder | None
    records: dict

    def visible(self, crops: list[np.ndarray]) -> list[np.ndarray] | None:
        """Per BGR crop, float32 [H,W]: 1 where the face itself shows (parser: a face class; occluder: not
        covered), 0 where hair, a hat, glasses, a hand or an object covers it. None when no model is imported."""
        if self.parser is None and self.occluder is None:
            return None
        masks = [np.ones(crop.shape[:2], np.float32) for crop in crops]
        if self.parser is not None:
            ids = [PARSER_CLASSES.index(name) for name in FACE_CLASSES]
            masks = [m * np.isin(labels, ids) for m, labels in zip(masks, self.parser.labels(crops))]
        if self.occluder is not None:
            masks = [m * (shown > 0.5) for m, shown in zip(masks, self.occluder.visible(crops))]
        return [m.astype(np.float32) for m in masks]


def imported_masks(models, execution) -> FaceMasks:
    """The face parser and occluder that are imported into the model store (none needed: FaceMasks of Nones)."""
    from shared.onnx_runner import load_from_store

    records = models.records()
    parser = occluder = None
    used = {}
    for name in PARSER_FILES:
        if name in records:
            parser = FaceParser(load_from_store(models, name, PARSER_SIGNATURE, execution), CARDS[name])
            used[name] = records[name]
            break
    for name in OCCLUDER_FILES:
        if name in records:
            occluder = Occluder(load_from_store(models, name, OCCLUDER_SIGNATURE, execution), CARDS[name])
            used[name] = records[name]
            break
    return FaceMasks(parser=parser, occluder=occluder, records=used)
