"""The community ONNX face restorers as engines: gfpgan_1.2/1.3/1.4, codeformer,
restoreformer_plus_plus and gpen_bfr_256/512/1024/2048.

One engine class per file name (registered in `services.enhancer.engines` from `shared.onnx_catalog`),
all running the same code with the card's conventions, as FaceFusion's face_enhancer runs them:
- the face aligned on the card's template at the model's size (`ffhq_512`; `arcface_128` for
  gpen_bfr_256), borders replicated; the enhancer stage pre-blurs it and pastes the restored crop back
  through its own feathered face mask and degradation-weighted strength (`services.enhancer.stage`);
- input `input` [N,3,S,S]: RGB (x/255 − 0.5)/0.5; output the same normalisation, clipped to [−1, 1];
- CodeFormer's fidelity input `weight` ([1], double; 0 = most restoration, 1 = most faithful) is fed
  FIDELITY_WEIGHT when the file has it.
Batches go through the runner in chunks when the file's batch axis is dynamic, one face at a time otherwise.
"""
from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from services.enhancer.engines import REGISTRY
from shared.engines import Device, EngineInfo
from shared.errors import EngineUnavailable
from shared.faces import AlignedFace, Face, align_face, image_tensor, tensor_image
from shared.onnx_catalog import ModelCard, cards, class_name
from shared.onnx_runner import OnnxModel, Signature, TensorSpec, execution_for, load_from_store
from shared.weights import ModelRecord, ModelStore

FIDELITY_WEIGHT = 0.5  # CodeFormer's own default `w` (and FaceFusion's face_enhancer_weight)


def signature(card: ModelCard) -> Signature:
    size = card.size
    return Signature(
        inputs=(TensorSpec("image", ("input",), (None, 3, size, size)),
                TensorSpec("weight", ("weight",), (1,), dtypes=("float64", "float32"), optional=True, batched=False)),
        outputs=(TensorSpec("image", (), (None, 3, size, size)),))


class OnnxRestoreEngine:
    """One community restorer file, checked and loaded."""
    card: ClassVar[ModelCard]
    info: ClassVar[EngineInfo]

    def __init__(self, model: OnnxModel, record: ModelRecord):
        self.model, self.record = model, record

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "OnnxRestoreEngine":
        """The store's file (sha256 and signature checked); EngineUnavailable saying what to import."""
        name = weights or cls.card.name
        if name not in models.records():
            raise EngineUnavailable(f"engine {cls.card.name!r} needs {cls.card.file_name} in the model store "
                                    f"(import it with `facecast models import {cls.card.file_name}`)", missing=[name])
        model = load_from_store(models, name, signature(cls.card), execution_for(device))
        return cls(model, models.records()[name])

    @property
    def size(self) -> int:
        return self.card.size

    def align(self, image: np.ndarray, face: Face) -> tuple[AlignedFace, int]:
        """The face on the card's template at the model's size; pasted back at that size."""
        return align_face(image, face, self.card.template, border=cv2.BORDER_REPLICATE, size=self.size), self.size

    def run_batch(self, items: list[tuple[np.ndarray, int]], ctx=None) -> list[np.ndarray]:
        """(aligned S×S BGR crop, paste size) pairs → restored S×S BGR uint8 crops, in order."""
        if not items:
            return []
        for crop, _ in items:
            if crop.shape != (self.size, self.size, 3):
                raise ValueError(f"{self.card.name} needs {self.size}×{self.size} crops, got {crop.shape}")
        feeds = {"image": image_tensor(np.stack([crop for crop, _ in items]), self.card.mean, self.card.std)}
        if self.model.has_input("weight"):
            feeds["weight"] = np.array([FIDELITY_WEIGHT], np.float64)
        out = np.clip(self.model.run(feeds)["image"], -1.0, 1.0)
        return list(tensor_image(out, self.card.mean, self.card.std, normalised=True))

    def provenance(self) -> list[dict]:
        return [self.record.public()]

    def records(self) -> dict[str, ModelRecord]:
        """The imported record, keyed by the weight file it stands for (what the commercial-use rule reads)."""
        return {self.card.name: self.record}


def _engine_class(card: ModelCard) -> type[OnnxRestoreEngine]:
    info = REGISTRY.info(card.name)
    return type(class_name(card.name), (OnnxRestoreEngine,),
                {"card": card, "info": info, "__module__": __name__, "__doc__": f"`{card.name}`: {info.title}"})


ENGINE_CLASSES: dict[str, type[OnnxRestoreEngine]] = {card.name: _engine_class(card) for card in cards("restorer")}
globals().update({cls.__name__: cls for cls in ENGINE_CLASSES.values()})
