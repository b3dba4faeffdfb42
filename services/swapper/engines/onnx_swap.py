"""The community ONNX face swappers as engines: inswapper_128 (+fp16), hyperswap_1a/1b/1c_256,
ghost_1/2/3_256, simswap_256, simswap_unofficial_512, blendswap_256 and uniface_256.

One engine class per file name (registered in `services.swapper.engines` from `shared.onnx_catalog`),
all running the same code with the card's conventions:

- The target face is prepared like every other engine's: aligned on an `ffhq256/512/1024` crop (the
  smallest that does not shrink the face, as the classical engine chooses) and meshed, so the shared
  composite (`services.swapper.compose`: tone, grain, sharpness, occluders, mouth, realism report and
  warnings) works on it unchanged. From that crop the engine warps the model's own crop (the card's
  template and size, borders replicated), runs the model and warps its output back into the crop;
  `valid` is where the model's crop covers it, so the composite never blends outside the model's view.
- The target crop enters as NCHW float32 ((RGB/255) − mean)/std; the output is read back the same way
  (hyperswap, ghost, uniface) or as RGB in [0, 1] (inswapper, simswap, blendswap), per FaceFusion's
  face_swapper.
- The source identity: the source portrait's `arcface_w600k_r50` embedding (112-px `arcface_112_v2`
  crop, x/127.5 − 1) averaged over the virtual model's photos (`Identity.average`), then per family:
  inswapper `embedding @ emap / ‖embedding‖` (emap = the file's last initializer), hyperswap the mean
  normalised embedding, ghost `crossface_ghost(embedding)`, simswap `crossface_simswap(embedding)`
  L2-normalised; blendswap and uniface take the source's own crop (112-px arcface_112_v2, resp. 256-px
  ffhq_512, RGB/255).
- Batches go through the runner in one call per chunk when the file's batch axis is dynamic.
- Masks: when a face parser (bisenet_resnet_34/18) or an occluder (xseg_1/2/3) is imported, whatever it
  finds covering the target face (hair, a hat, glasses, a hand, an object) is taken out of `valid`, so
  the photo's own pixels stay there, on top of the composite's colour-model occluders (which the
  classical engine still uses alone).

Licences: the engine is commercial only when every file it runs allows it (the swapper file, the
w600k recogniser, a converter); `records()` gives the imported records that the results report.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import ClassVar

import cv2
import numpy as np

from services.swapper.engines import REGISTRY, EngineOutput
from services.swapper.faces import SourceFace, TargetFace, composite_template
from shared.engines import Device, EngineInfo
from shared.errors import EngineUnavailable, WeightsMismatch
from shared.faces import (CONVERTER_SIGNATURE, RECOGNISER_SIGNATURE, ArcFaceRecogniser, Face, FaceMasks, Identity,
                          convert_embeddings, image_tensor, imported_masks, similarity_matrix, template_points,
                          tensor_image, warp_to_crop)
from shared.onnx_catalog import ARCFACE, CARDS, ModelCard, cards, class_name
from shared.onnx_runner import (Execution, OnnxModel, Signature, TensorSpec, execution_for, last_initializer,
                                load_from_store)
from shared.weights import ModelRecord, ModelStore

VALID_MARGIN_PX = 2  # model-crop pixels at its border left out of `valid` (replicated border, resampling)
SOURCE_CACHE_SIZE = 32  # source feeds (identity rows or crops) kept per loaded engine


def signature(card: ModelCard) -> Signature:
    """The inputs/outputs a swapper file must have: `target` [N,3,S,S], `source` [N,512] (or the source
    crop [N,3,112,112] / [N,3,256,256]), output [N,3,S,S] first."""
    size = card.size
    source_shape = {"image112": (None, 3, 112, 112), "image256": (None, 3, 256, 256)}.get(card.identity, (None, 512))
    return Signature(inputs=(TensorSpec("target", ("target",), (None, 3, size, size)),
                             TensorSpec("source", ("source",), source_shape)),
                     outputs=(TensorSpec("output", (), (None, 3, size, size)),))


def model_matrix(target: TargetFace, card: ModelCard) -> np.ndarray:
    """2×3 matrix from the target's aligned crop to the model's crop (its template at its size)."""
    size, points = template_points(card.template)
    landmarks = target.aligned.to_crop(np.asarray(target.face.landmarks5, np.float64))
    return similarity_matrix(landmarks, points * (card.size / size))


def model_crop(target: TargetFace, card: ModelCard) -> tuple[np.ndarray, np.ndarray]:
    """(the model's S×S BGR crop of the target, the crop matrix)."""
    matrix = model_matrix(target, card)
    return warp_to_crop(target.aligned.crop, matrix, card.size, cv2.BORDER_REPLICATE), matrix


def back_to_frame(output: np.ndarray, matrix: np.ndarray, frame_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's output crop warped back into the target's aligned crop, and the weight (float32 0/1)
    of where the model's crop covers it (its outer VALID_MARGIN_PX left out)."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    crop = cv2.warpAffine(output, matrix, (frame_size, frame_size), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = np.zeros(output.shape[:2], np.uint8)
    inside[VALID_MARGIN_PX:-VALID_MARGIN_PX, VALID_MARGIN_PX:-VALID_MARGIN_PX] = 1
    valid = cv2.warpAffine(inside, matrix, (frame_size, frame_size), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, valid.astype(np.float32)


class OnnxSwapEngine:
    """One community swapper file with what it needs (recogniser, converter), checked and loaded."""
    card: ClassVar[ModelCard]
    info: ClassVar[EngineInfo]

    def __init__(self, swapper: OnnxModel, recogniser: ArcFaceRecogniser | None = None,
                 converter: OnnxModel | None = None, emap: np.ndarray | None = None,
                 records: dict[str, ModelRecord] | None = None, masks: FaceMasks | None = None,
                 execution: Execution | None = None):
        self.swapper, self.recogniser, self.converter, self.emap = swapper, recogniser, converter, emap
        self.masks = masks or FaceMasks(parser=None, occluder=None, records={})
        self.execution = execution or Execution()
        self._files = dict(records or {})
        self._source_feeds: OrderedDict[str, np.ndarray] = OrderedDict()  # a virtual model serves many photos
        self._source_lock = threading.Lock()

    def records(self) -> dict[str, ModelRecord]:
        """The model-store records of the files loaded, mask models included (what the commercial-use rule and
        the report read)."""
        return {**self._files, **self.masks.records}

    def provenance(self) -> list[dict]:
        return [record.public() for record in self.records().values()]

    @classmethod
    def required(cls, weights: str | None = None) -> tuple[str, ...]:
        return (weights or cls.card.name, *cls.card.needs)

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "OnnxSwapEngine":
        """Every file checked (sha256 against the manifest, signature against the card); EngineUnavailable
        naming the files to import when some are missing."""
        card, names = cls.card, cls.required(weights)
        records = models.records()
        missing = [name for name in names if name not in records]
        if missing:
            raise EngineUnavailable(
                f"engine {card.name!r} needs {', '.join(f'{n}.onnx' for n in names)} in the model store; missing: "
                f"{', '.join(missing)} (import each with `facecast models import {missing[0]}.onnx`)", missing=missing)
        execution = execution_for(device)
        swapper = load_from_store(models, names[0], signature(card), execution)
        recogniser = converter = emap = None
        if ARCFACE in card.needs:
            recogniser = ArcFaceRecogniser(load_from_store(models, ARCFACE, RECOGNISER_SIGNATURE, execution))
        converters = [n for n in card.needs if CARDS[n].kind == "converter"]
        if card.identity in ("ghost", "simswap"):
            if not converters:
                raise WeightsMismatch(f"engine {card.name!r}: the {card.identity} identity needs a converter model")
            converter = load_from_store(models, converters[0], CONVERTER_SIGNATURE, execution)
        if card.identity == "emap":
            emap = last_initializer(models.path(names[0]), f"weights {names[0]!r}")
            if emap.shape != (512, 512):
                raise WeightsMismatch(f"weights {names[0]!r}: the last initializer is {list(emap.shape)}, not the "
                                      f"512×512 emap an inswapper file ends with")
            emap = emap.astype(np.float32)
        # keyed by the weight file each record stands for (`weights` may replace the swapper file's name)
        return cls(swapper, recogniser, converter, emap, {f: records[n] for f, n in zip(cls.required(), names)},
                   imported_masks(models, execution), execution)

    @classmethod
    def template_for(cls, face: Face) -> str:
        return composite_template(face)

    # ---- the source identity --------------------------------------------------------------------------------
    def identity(self, sources: list[SourceFace]) -> Identity:
        """The averaged w600k identity of the photos of one virtual model."""
        if self.recogniser is None:
            raise ValueError(f"engine {self.card.name!r} takes the source image, not an embedding")
        return self.recogniser.identity([(source.pixels, source.face) for source in sources])

    def source_feed(self, sources: list[SourceFace]) -> np.ndarray:
        """The `source` input row [512] (or source crop [3,H,W]) for the photos of one virtual model."""
        kind = self.card.identity
        if kind == "image112":
            crop = self.source_crop(sources[0], "arcface_112_v2", 112)
            return image_tensor(crop[None])[0]
        if kind == "image256":
            return image_tensor(self.source_crop(sources[0], "ffhq_512", 256)[None])[0]
        identity = self.identity(sources)
        return embedding_feed(kind, identity, emap=self.emap, converter=self.converter)

    def cached_source_feed(self, source: SourceFace) -> np.ndarray:
        """`source_feed` of one portrait, kept for the last SOURCE_CACHE_SIZE portraits (by their pixels and
        face), so the recogniser and converter run once per virtual model, not once per photo."""
        digest = hashlib.sha256(np.ascontiguousarray(source.pixels).data)
        digest.update(np.asarray(source.face.landmarks5, np.float64).tobytes())
        key = digest.hexdigest()
        with self._source_lock:
            if key in self._source_feeds:
                self._source_feeds.move_to_end(key)
                return self._source_feeds[key]
        feed = self.source_feed([source])
        with self._source_lock:
            self._source_feeds[key] = feed
            while len(self._source_feeds) > SOURCE_CACHE_SIZE:
                self._source_feeds.popitem(last=False)
        return feed

    @staticmethod
    def source_crop(source: SourceFace, template: str, size: int) -> np.ndarray:
        from shared.faces import align_face

        return align_face(source.pixels, source.face, template, border=cv2.BORDER_REPLICATE, size=size).crop

    # ---- swapping -------------------------------------------------------------------------------------------
    def run_batch(self, pairs: list[tuple[TargetFace, SourceFace]], ctx=None) -> list[EngineOutput]:
        """Every pair's swapped face in its target's aligned crop; each distinct source embedded once. With a
        context, the mask models are looked up again, so a parser or occluder imported while the worker
        runs is used from the next batch on."""
        if not pairs:
            return []
        if ctx is not None:
            self.masks = imported_masks(ctx.models, self.execution)
        card = self.card
        feeds: dict[int, np.ndarray] = {}
        for _, source in pairs:
            if id(source) not in feeds:
                feeds[id(source)] = self.cached_source_feed(source)
        crops, matrices = zip(*(model_crop(target, card) for target, _ in pairs))
        outputs = self.swapper.run({"target": image_tensor(np.stack(crops), card.mean, card.std),
                                    "source": np.stack([feeds[id(source)] for _, source in pairs])})["output"]
        faces = tensor_image(outputs, card.mean, card.std, normalised=card.output_normalised)
        visible = self.masks.visible([target.aligned.crop for target, _ in pairs]) or [None] * len(pairs)
        results = []
        for (target, _), face, matrix, shown in zip(pairs, faces, matrices, visible):
            crop, valid = back_to_frame(face, matrix, target.aligned.size)
            if shown is not None:  # what covers the target face keeps the photo's own pixels
                valid *= shown
            results.append(EngineOutput(crop=crop, mesh=target.mesh, valid=valid))
        return results


def embedding_feed(kind: str, identity: Identity, *, emap: np.ndarray | None = None,
                   converter: OnnxModel | None = None) -> np.ndarray:
    """The `source` row [512] of an embedding-fed swapper (FaceFusion's prepare_source_embedding)."""
    if kind == "emap":
        return (identity.embedding @ emap / np.linalg.norm(identity.embedding)).astype(np.float32)
    if kind == "normed":
        return identity.embedding_norm.astype(np.float32)
    if kind in ("ghost", "simswap"):
        converted = convert_embeddings(converter, identity.embedding[None])[0]
        return (converted if kind == "ghost" else converted / np.linalg.norm(converted)).astype(np.float32)
    raise ValueError(f"unknown identity kind {kind!r}")


def _engine_class(card: ModelCard) -> type[OnnxSwapEngine]:
    return type(class_name(card.name), (OnnxSwapEngine,), {"card": card, "info": REGISTRY.info(card.name), "__module__": __name__,
                                          "__doc__": f"`{card.name}`: {REGISTRY.info(card.name).title}"})


ENGINE_CLASSES: dict[str, type[OnnxSwapEngine]] = {card.name: _engine_class(card) for card in cards("swapper")}
globals().update({cls.__name__: cls for cls in ENGINE_CLASSES.values()})
