"""GPEN face restoration: the BFR checkpoint from the model store, run by our `FullGenerator`.

The network's configuration is read from the checkpoint's own shapes (encoder depth → size, final
linear → style_dim and narrow, first encoder conv → channel multiplier, …) and the checkpoint is
then loaded with strict keys and shapes, so GPEN-BFR-256/512/1024 and small test checkpoints all
load through one path, and anything that is not a GPEN `FullGenerator` state_dict is refused with
the keys that do not fit. Faces go in as RGB [-1,1] on GPEN's own 5-point alignment at the
network's size; the output is mapped back with ×0.5+0.5 and clipped, as GPEN's `tensor2img` does.

Licence: yangxy/GPEN has no LICENSE file, and its README said "For academic and non-commercial use
only" up to the commit before HEAD, so the engine is marked commercial_use=False.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from services.enhancer.engines import REGISTRY
from shared.engines import CPU, Device
from shared.errors import WeightsMismatch
from shared.faces import AlignedFace, Face, align_face
from shared.stage import StageContext
from shared.weights import ModelRecord, ModelStore, load_strict, load_torch_checkpoint

INFO = REGISTRY.info("gpen")
(WEIGHTS_NAME,) = INFO.weights
TEMPLATE = "gpen512"  # GPEN's face_enhancement.py alignment, scaled to the network's size
BATCH_CPU, BATCH_GPU = 4, 16  # faces per forward pass

# Channels at the network's full resolution for channel_multiplier=1, narrow=1 (GPEN's `channels`).
_FULL_RES_BASE_CHANNELS = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
_REQUIRED_KEYS = ("final_linear.0.weight", "ecd0.0.0.weight", "generator.input.input", "generator.conv1.activate.bias")


@dataclass(frozen=True)
class GpenConfig:
    size: int
    style_dim: int
    n_mlp: int
    channel_multiplier: int
    narrow: float
    isconcat: bool


def infer_config(state_dict: dict) -> GpenConfig:
    """The FullGenerator configuration a GPEN state_dict was saved from."""
    missing = [k for k in _REQUIRED_KEYS if k not in state_dict]
    if missing:
        raise WeightsMismatch(f"not a GPEN FullGenerator checkpoint: no {', '.join(missing)}")
    encoders = {int(m.group(1)) for k in state_dict if (m := re.match(r"ecd(\d+)\.", k))}
    size = 2 ** (len(encoders) + 1)
    style_dim, flat_features = state_dict["final_linear.0.weight"].shape
    narrow = flat_features / 16 / 512
    full_res_channels = state_dict["ecd0.0.0.weight"].shape[0]
    base = _FULL_RES_BASE_CHANNELS.get(size)
    if base is None or narrow <= 0:
        raise WeightsMismatch(f"GPEN checkpoint with {len(encoders)} encoder levels (size {size}) is not supported")
    channel_multiplier = max(1, round(full_res_channels / (base * narrow)))
    n_mlp = len([k for k in state_dict if re.fullmatch(r"generator\.style\.\d+\.weight", k)])
    isconcat = state_dict["generator.conv1.activate.bias"].shape[0] == 2 * state_dict["generator.input.input"].shape[1]
    return GpenConfig(size=size, style_dim=int(style_dim), n_mlp=n_mlp, channel_multiplier=channel_multiplier,
                      narrow=narrow, isconcat=bool(isconcat))


class GpenRestorer:
    """A loaded GPEN generator: batches of aligned BGR uint8 crops in, restored crops out."""

    def __init__(self, state_dict: dict, record: ModelRecord | None = None, what: str = "GPEN checkpoint",
                 device: Device = CPU):
        from services.enhancer.nets.gpen import FullGenerator

        self.config = infer_config(state_dict)
        self.record = record
        self.fp16 = device.fp16
        self.device = device.torch()
        network = FullGenerator(**asdict(self.config))
        load_strict(network, state_dict, what)
        self.network = network.eval().requires_grad_(False).to(self.device)

    @property
    def size(self) -> int:
        return self.config.size

    def restore(self, crops_bgr: list[np.ndarray]) -> list[np.ndarray]:
        """One forward pass for all crops (each size×size BGR uint8); fp16 autocast where the device says."""
        import torch

        if not crops_bgr:
            return []
        for crop in crops_bgr:
            if crop.shape != (self.size, self.size, 3):
                raise ValueError(f"GPEN-{self.size} needs {self.size}×{self.size} crops, got {crop.shape}")
        batch = np.stack([c[:, :, ::-1] for c in crops_bgr]).astype(np.float32) / 127.5 - 1.0
        tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, torch.float16, enabled=self.fp16):
            image, _ = self.network(tensor)
        out = (image.float() * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray((o[:, :, ::-1] * 255.0 + 0.5).astype(np.uint8)) for o in out]


def align(image: np.ndarray, face: Face, size: int) -> AlignedFace:
    """GPEN's own five-point alignment, scaled to a size×size crop for a GPEN-`size` network."""
    return align_face(image, face, TEMPLATE, size=size)


class GpenEngine:
    """The engine on the shared interface: a verified GPEN restorer from the model store."""
    info = INFO

    def __init__(self, restorer: GpenRestorer):
        self.restorer = restorer

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "GpenEngine":
        """The store's `weights` checkpoint (default gpen-bfr-512): EngineUnavailable when absent,
        WeightsMismatch on a wrong sha256 or a state_dict of another network."""
        name = weights or WEIGHTS_NAME
        path = models.path(name)
        state_dict = load_torch_checkpoint(path)
        if not isinstance(state_dict, dict):
            raise WeightsMismatch(f"weights {name!r}: expected a bare state_dict, found {type(state_dict).__name__}")
        return cls(GpenRestorer(state_dict, models.records()[name], f"weights {name!r} ({path.name})", device))

    def align(self, image: np.ndarray, face: Face) -> tuple[AlignedFace, int]:
        """GPEN's alignment at the network's size, pasted back at that size."""
        return align(image, face, self.restorer.size), self.restorer.size

    def run_batch(self, items: list[tuple[np.ndarray, int]], ctx: StageContext) -> list[np.ndarray]:
        """(aligned crop, paste size) pairs → restored crops, BATCH_CPU / BATCH_GPU faces per forward pass."""
        crops = [crop for crop, _ in items]
        step = BATCH_GPU if self.restorer.device.type == "cuda" else BATCH_CPU
        return [out for start in range(0, len(crops), step) for out in self.restorer.restore(crops[start:start + step])]

    def provenance(self) -> list[dict]:
        return [{**self.restorer.record.public(), "config": self.restorer.config.__dict__}]

    def records(self) -> dict[str, ModelRecord]:
        """The model-store record of the loaded checkpoint (what the commercial-use rule reads)."""
        return {WEIGHTS_NAME: self.restorer.record}


def load(models: ModelStore) -> GpenRestorer:
    """The verified GPEN restorer, from the shared weight cache (loaded once per file and hash)."""
    from shared.settings import get_settings

    return REGISTRY.load(INFO.name, models, get_settings()).restorer
