"""The `beautygan` engine: BeautyGAN's generator on 256×256 aligned faces (`ffhq256`, the mesh's own
crop), pasted back with a soft mask.

Weights are the operator-imported `beautygan-generator` record of the model store, a bare state_dict
as the reference `solver_makeup.py` saves it (`torch.save(G.state_dict(), …)`). The layout
(`Generator_branch` or `Generator_makeup`), `conv_dim` and `repeat_num` are read off the keys and
shapes, then the state_dict is loaded strictly: a checkpoint of any other network is refused by name.

`BeautyGANEngine.run_batch` uses the three phases separately: `prepare_face` per face, `made_up_crops`
once for the faces of all events (one forward pass), `blend_face` per face. On CPU (fp32) a batched
pass is bit-identical to a pass per face; on a GPU the network runs in fp16 autocast.

Licence, as far as known: wtjiang98/BeautyGAN_pytorch (snapshot b19fb0a, 2019) is MIT ("Copyright (c)
2019", no holder named) and links no pretrained generator, so no weights licence exists to inherit.
The engine is therefore listed as not for commercial use; a job's report carries the imported
checkpoint's own record (licence, commercial_use, source, sha256), which decides.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from services.makeup.engines import REGISTRY
from services.makeup.engines.geometry import FaceGeometry, face_geometry, reference_geometry
from services.makeup.engines.request import MakeupRequest, region_weights
from services.makeup.nets import BeautyGANConcatGenerator, BeautyGANGenerator
from shared.engines import Device
from shared.errors import WeightsMismatch
from shared.faces import Face, face_oval_mask, find_faces, paste_back
from shared.stage import StageContext, StageOutput, isolated
from shared.weights import ModelRecord, ModelStore, load_strict, load_torch_checkpoint

INFO = REGISTRY.info("beautygan")
(WEIGHTS,) = INFO.weights
TRAINED_SIZE = 256  # the reference trains and tests at img_size 256
MAX_BATCH = 16  # faces per forward pass, to bound the activations' memory (16 one-face events: one pass)
_RESIDUAL_KEY = re.compile(r"^main\.(\d+)\.main\.0\.weight$")


def generator_for_state_dict(state: dict) -> nn.Module:
    """An untrained generator whose layout, width and depth match the checkpoint's keys and shapes."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsMismatch(f"{WEIGHTS}: the checkpoint is not a bare state_dict of tensors")
    repeat_num = sum(1 for key in state if _RESIDUAL_KEY.match(key))
    if "Branch_0.0.weight" in state:
        return BeautyGANGenerator(conv_dim=int(state["Branch_0.0.weight"].shape[0]), repeat_num=repeat_num)
    first = state.get("main.0.weight")
    if first is not None and first.ndim == 4:
        return BeautyGANConcatGenerator(conv_dim=int(first.shape[0]), repeat_num=repeat_num,
                                        input_nc=int(first.shape[1]))
    sample = ", ".join(list(state)[:4])
    raise WeightsMismatch(f"{WEIGHTS}: not a BeautyGAN generator state_dict (no Branch_0.0.weight or "
                          f"main.0.weight; first keys: {sample})")


class BeautyGANEngine:
    """The engine on the shared interface: the verified generator (sha256 by the store, strict keys here)."""
    info = INFO

    def __init__(self, model: nn.Module, record: ModelRecord, device: Device):
        self.model, self.record, self.device = model, record, device
        self.size = network_size(record)

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "BeautyGANEngine":
        name = weights or WEIGHTS
        path = models.require([name])[name]
        record = models.records()[name]
        state = load_torch_checkpoint(path)
        model = generator_for_state_dict(state)
        load_strict(model, state, name)
        return cls(model.eval().requires_grad_(False).to(device.torch()), record, device)

    def run_batch(self, requests: list[MakeupRequest], ctx: StageContext) -> list[StageOutput | Exception]:
        """Each request prepared alone (reference face, faces found and aligned on its image), then the
        faces of all requests in one forward pass (`MAX_BATCH` faces at most per pass), then each request
        blended back alone. A failing request gets its exception in its place; a failing pass fails every
        request in it (the same exception)."""
        results: list = [isolated(self._prepare, request) for request in requests]
        ready = [i for i, r in enumerate(results) if isinstance(r, _Prepared)]
        targets = [face.target for i in ready for face in results[i].faces]
        references = [results[i].reference for i in ready for _ in results[i].faces]
        made_up = isolated(made_up_crops, self.model, targets, references, self.device.fp16)
        if isinstance(made_up, Exception):
            for i in ready:
                results[i] = made_up
            return results
        crops = iter(made_up)
        for i in ready:
            prepared = results[i]
            results[i] = isolated(prepared.finish, [next(crops) for _ in prepared.faces])
        return results

    def _prepare(self, request: MakeupRequest) -> "_Prepared":
        params = request.params
        source = reference_geometry(request.reference)
        faces = find_faces(request.image, params)
        by_region = params.regions is not None or bool(params.region_intensity)
        report = {**request.report, "weights": self.record.public(),
                  # the code is MIT: the imported weights' own record decides
                  "commercial_use": INFO.commercial_use_with({WEIGHTS: self.record}),
                  "blend": "regions" if by_region else "face oval"}
        return _Prepared(request=request, report=report,
                         reference=network_input(source.aligned.crop, self.size),
                         faces=[prepare_face(request.image, face, self.size) for face in faces],
                         region_weights=region_weights(params, lambda region: 1.0) if by_region else None)


def load_generator(models: ModelStore) -> tuple[nn.Module, ModelRecord]:
    """The verified generator and its record, from the shared weight cache (loaded once per file and hash)."""
    from shared.settings import get_settings

    engine = REGISTRY.load(INFO.name, models, get_settings())
    return engine.model, engine.record


def network_size(record: ModelRecord) -> int:
    """The side the network runs at: the record's input size when set (the reference also tests at 361)."""
    size = record.input_size or TRAINED_SIZE
    if size % 4:
        raise WeightsMismatch(f"{WEIGHTS}: input_size {size} is not divisible by 4")
    return size


def made_up_crops(model: nn.Module, targets: list[torch.Tensor], references: list[torch.Tensor],
                  fp16: bool = False) -> list[np.ndarray]:
    """G(target, reference)'s first outputs (each target wearing its reference's makeup): one forward pass
    over all pairs (each a [1, 3, size, size] tensor from `network_input`, one size for all), at most
    MAX_BATCH pairs per pass, on the model's device (fp16 autocast when `fp16`); the made-up crops as BGR
    uint8, in order.

    Every InstanceNorm of the generator normalises per instance and the convolutions are per sample, so an
    item's output does not depend on the others in its batch (on CPU it is bit-identical to a pass alone).
    """
    if len(targets) != len(references):
        raise ValueError(f"{len(targets)} targets but {len(references)} references")
    weight = next(model.parameters(), None)
    device = weight.device if weight is not None else torch.device("cpu")
    crops: list[np.ndarray] = []
    for start in range(0, len(targets), MAX_BATCH):
        with torch.inference_mode(), torch.autocast(device.type, torch.float16, enabled=fp16):
            out_a, _ = model(torch.cat(targets[start:start + MAX_BATCH]).to(device),
                             torch.cat(references[start:start + MAX_BATCH]).to(device))
        crops.extend(_to_bgr(item) for item in out_a)
    return crops


@dataclass
class _Prepared:
    """One request made ready for the network: everything but the forward pass and the paste."""
    request: MakeupRequest
    report: dict
    reference: torch.Tensor  # the reference face's network input, [1, 3, size, size]
    faces: list["PreparedFace"]
    region_weights: dict[str, float] | None  # None: the face oval at `intensity`

    def finish(self, made_up: list[np.ndarray]) -> StageOutput:
        result = self.request.image.copy()
        faces = [blend_face(result, face, crop, self.request.params.intensity, self.region_weights)
                 for face, crop in zip(self.faces, made_up)]
        return StageOutput(image=result, report={**self.report, "faces": faces})


@dataclass
class PreparedFace:
    """One face ready for the network: its geometry (for the paste back) and its network input."""
    geometry: FaceGeometry
    target: torch.Tensor  # [1, 3, size, size]


def prepare_face(image: np.ndarray, face: Face, size: int) -> PreparedFace:
    """Align the face and make its crop a network input; nothing of `image` changes."""
    geometry = face_geometry(image, face)
    return PreparedFace(geometry=geometry, target=network_input(geometry.aligned.crop, size))


def blend_face(image: np.ndarray, prepared: PreparedFace, made_up: np.ndarray, intensity: float,
               region_weights: dict[str, float] | None) -> dict:
    """Paste the network's crop over the face of `image` in place; returns the per-face report.

    The crop is blended over the input through the face oval, or through the requested regions'
    masks, each weighted by its intensity (0 keeps the input, 1 takes the network's output).
    """
    geometry = prepared.geometry
    if region_weights is None:
        weights = face_oval_mask(geometry.mesh, geometry.aligned.size) * np.float32(intensity)
    else:
        weights = np.zeros((geometry.aligned.size,) * 2, np.float32)
        for region, weight in region_weights.items():
            np.maximum(weights, geometry.mask(region) * np.float32(weight), out=weights)
    paste_back(image, made_up, geometry.aligned, weights, inplace=True)
    face = geometry.face
    if region_weights is None:
        return {"face": face.as_dict(), "weight": round(intensity, 4)}
    return {"face": face.as_dict(),
            "regions": {region: {"weight": round(weight, 4)} for region, weight in region_weights.items()}}


def _to_bgr(made_up: torch.Tensor) -> np.ndarray:
    """One tanh output [3, size, size] in [-1, 1] → BGR uint8 image."""
    rgb = ((made_up.permute(1, 2, 0).float().cpu().numpy() + 1.0) * 127.5).clip(0, 255)
    return np.ascontiguousarray((rgb + 0.5).astype(np.uint8)[:, :, ::-1])


def network_input(crop_bgr: np.ndarray, size: int) -> torch.Tensor:
    """BGR uint8 crop → RGB [-1, 1] tensor [1, 3, size, size], as the reference's Normalize(0.5, 0.5)."""
    if crop_bgr.shape[0] != size:
        crop_bgr = cv2.resize(crop_bgr, (size, size), interpolation=cv2.INTER_AREA if crop_bgr.shape[0] > size
                              else cv2.INTER_LINEAR)
    rgb = np.ascontiguousarray(crop_bgr[:, :, ::-1], dtype=np.float32)
    return torch.from_numpy(rgb / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()
