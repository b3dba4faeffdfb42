"""The `faceshifter` engine: AEI-Net + HEAR-Net on aligned 256×256 crops, weights from the model store.

Licence: the reference repository (taotaonice/FaceShifter) has no LICENSE file, so no licence is
granted for its code or for weights trained with it; this engine is marked not for commercial use.
The networks are FaceCast's own re-implementation in the published checkpoint layout.

The pipeline is the paper's two stages: Ŷ_st = AEI(Xt, z_src), Y_tt = AEI(Xt, z_tgt) (the target's
self-reconstruction), then HEAR-Net refines cat(Ŷ_st, Xt − Y_tt) so occluders that AEI-Net cannot
reconstruct come back. Crops are BGR uint8 (what cv2 and the face toolkit use) and enter the networks
as BGR [-1,1], the layout the published weights were trained on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from services.swapper.engines import REGISTRY, EngineOutput
from services.swapper.faces import SourceFace, TargetFace
from services.swapper.nets import AEI_Net, Backbone, HearNet
from services.swapper.nets.aei_net import CROP_SIZE, ENCODER_WIDTHS
from services.swapper.nets.arcface import INPUT_SIZE as ARCFACE_SIZE
from services.swapper.nets.hear_net import DOWN_WIDTHS
from shared.engines import Device
from shared.errors import EngineUnavailable, WeightsMismatch
from shared.faces import FACESHIFTER_IDENTITY_SLICE, Face
from shared.stage import StageContext
from shared.weights import ModelRecord, ModelStore, load_strict, load_torch_checkpoint

INFO = REGISTRY.info("faceshifter")
AEI_WEIGHTS, HEAR_WEIGHTS, ARCFACE_WEIGHTS = WEIGHT_NAMES = INFO.weights
TEMPLATE = "faceshifter256"  # the crop FaceShifter was trained on (MTCNN alignment at 256)
BATCH_SIZE = 32


def crops_to_tensor(crops: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """[N,256,256,3] BGR uint8 → [N,3,256,256] BGR in [-1,1] (ToTensor + Normalize(0.5, 0.5))."""
    if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
        raise ValueError(f"FaceShifter needs [N,{CROP_SIZE},{CROP_SIZE},3] crops, got {crops.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2)
    return tensor.to(dtype) / 127.5 - 1.0


def tensor_to_crops(tensor: torch.Tensor) -> np.ndarray:
    """[N,3,H,W] in [-1,1] → [N,H,W,3] uint8, rounded."""
    pixels = ((tensor.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def _checkpoint(path: Path, what: str) -> dict[str, torch.Tensor]:
    state = load_torch_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsMismatch(f"{what}: {path.name} is not a bare state_dict of tensors")
    return state


def _leading_dim(state: dict, key: str, what: str) -> int:
    if key not in state:
        raise WeightsMismatch(f"{what}: checkpoint lacks {key}; it is not in the published layout")
    return state[key].shape[0]


def _divisor(state: dict, key: str, published: int, what: str) -> int:
    """Width divisor of a checkpoint, read from one layer's width (1 for the published checkpoint)."""
    width = _leading_dim(state, key, what)
    if width == 0 or published % width:
        raise WeightsMismatch(f"{what}: {key} has width {width}, which does not divide the published {published}")
    return published // width


def build_aei(state: dict) -> AEI_Net:
    """AEI-Net sized from the checkpoint (c_id and widths), then loaded strictly."""
    width_divisor = _divisor(state, "encoder.conv1.0.weight", ENCODER_WIDTHS[0], AEI_WEIGHTS)
    c_id = _leading_dim(state, "generator.up1.weight", AEI_WEIGHTS)  # ConvTranspose2d: [c_id, width, 2, 2]
    model = AEI_Net(c_id=c_id, width_divisor=width_divisor)
    load_strict(model, state, AEI_WEIGHTS)
    return model.eval()


def build_hear(state: dict) -> HearNet:
    model = HearNet(width_divisor=_divisor(state, "down1.0.weight", DOWN_WIDTHS[0], HEAR_WEIGHTS))
    load_strict(model, state, HEAR_WEIGHTS)
    return model.eval()


def build_arcface(state: dict) -> Backbone:
    model = Backbone(50, 0.6, "ir_se")
    load_strict(model, state, ARCFACE_WEIGHTS)
    return model.eval()


@dataclass
class FaceShifterNets:
    aei: AEI_Net
    hear: HearNet
    arcface: Backbone
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def from_files(cls, paths: dict[str, Path], device: torch.device | None = None,
                   half: bool | None = None) -> "FaceShifterNets":
        """Load the three checkpoints; fp16 by default on CUDA, fp32 on CPU."""
        device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if (device.type == "cuda" if half is None else half) else torch.float32
        aei = build_aei(_checkpoint(paths[AEI_WEIGHTS], AEI_WEIGHTS))
        hear = build_hear(_checkpoint(paths[HEAR_WEIGHTS], HEAR_WEIGHTS))
        arcface = build_arcface(_checkpoint(paths[ARCFACE_WEIGHTS], ARCFACE_WEIGHTS))
        if aei.generator.up1.in_channels != arcface.output_layer[3].out_features:
            raise WeightsMismatch(f"{AEI_WEIGHTS} expects a {aei.generator.up1.in_channels}-d identity but "
                                  f"{ARCFACE_WEIGHTS} gives {arcface.output_layer[3].out_features}-d embeddings")
        return cls(*(net.to(device=device, dtype=dtype) for net in (aei, hear, arcface)), device=device, dtype=dtype)

    @torch.inference_mode()
    def identity(self, x: torch.Tensor) -> torch.Tensor:
        """z_id of [N,3,256,256] BGR [-1,1] crops, exactly as the reference computes it."""
        region = x[:, :, FACESHIFTER_IDENTITY_SLICE, FACESHIFTER_IDENTITY_SLICE]
        small = F.interpolate(region, size=(ARCFACE_SIZE, ARCFACE_SIZE), mode="bilinear", align_corners=True)
        return self.arcface(small)

    @torch.inference_mode()
    def swap(self, targets: torch.Tensor, source_ids: torch.Tensor) -> torch.Tensor:
        """HEAR-refined swaps of `targets` [N,3,256,256] to identities `source_ids` [N,512]."""
        n = targets.shape[0]
        target_ids = self.identity(targets)
        # one AEI call for both the swap and the target's self-reconstruction
        both, _ = self.aei(torch.cat((targets, targets)), torch.cat((source_ids.to(self.dtype), target_ids)))
        swapped, reconstructed = both[:n], both[n:]
        return self.hear(torch.cat((swapped, targets - reconstructed), dim=1))

    def swap_crops(self, target_crops: np.ndarray, source_crops: np.ndarray) -> np.ndarray:
        """Numpy convenience: BGR uint8 target crops and their source crops (same N) → swapped crops."""
        targets = crops_to_tensor(target_crops, self.device, self.dtype)
        sources = crops_to_tensor(source_crops, self.device, self.dtype)
        return tensor_to_crops(self.swap(targets, self.identity(sources)))


class FaceShifterEngine:
    """The engine on the shared interface: the three verified checkpoints as networks."""
    info = INFO

    def __init__(self, nets: FaceShifterNets, records: dict[str, ModelRecord] | None = None):
        self.nets = nets
        self._records = dict(records or {})

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "FaceShifterEngine":
        """EngineUnavailable naming every missing file, WeightsMismatch naming a wrong one."""
        try:
            paths = models.require(WEIGHT_NAMES)
        except EngineUnavailable as exc:
            raise type(exc)(f"engine 'faceshifter' is unavailable: {exc.message}", **exc.details) from None
        records = models.records()
        return cls(FaceShifterNets.from_files(paths, device.torch(), half=device.fp16),
                   {name: records[name] for name in WEIGHT_NAMES})

    def records(self) -> dict[str, ModelRecord]:
        """The model-store records of the three checkpoints (what the commercial-use rule and the report read)."""
        return dict(self._records)

    @classmethod
    def template_for(cls, face: Face) -> str:
        """Always the training crop: the networks are fixed at 256×256."""
        return TEMPLATE

    def run_batch(self, pairs: list[tuple[TargetFace, SourceFace]], ctx: StageContext) -> list[EngineOutput]:
        return swap(self.nets, pairs)


def nets_from_store(store: ModelStore) -> FaceShifterNets:
    """The verified checkpoints as networks, from the shared weight cache (loaded once per set of hashes)."""
    from shared.settings import get_settings

    return REGISTRY.load(INFO.name, store, get_settings()).nets


def swap(nets: FaceShifterNets, pairs: list[tuple[TargetFace, SourceFace]]) -> list[EngineOutput]:
    """All faces of all events in batches of BATCH_SIZE; each distinct source is embedded once."""
    distinct: dict[int, SourceFace] = {}
    for _, source in pairs:
        distinct.setdefault(id(source), source)
    position = {key: i for i, key in enumerate(distinct)}
    source_crops = np.stack([source.aligned(TEMPLATE).crop for source in distinct.values()])
    source_ids = torch.cat([nets.identity(crops_to_tensor(source_crops[i:i + BATCH_SIZE], nets.device, nets.dtype))
                            for i in range(0, len(source_crops), BATCH_SIZE)])
    outputs: list[EngineOutput] = []
    for start in range(0, len(pairs), BATCH_SIZE):
        chunk = pairs[start:start + BATCH_SIZE]
        targets = crops_to_tensor(np.stack([t.aligned.crop for t, _ in chunk]), nets.device, nets.dtype)
        chosen = source_ids[[position[id(s)] for _, s in chunk]]
        for (target, _), crop in zip(chunk, tensor_to_crops(nets.swap(targets, chosen))):
            outputs.append(EngineOutput(crop=crop, mesh=target.mesh,
                                        valid=np.ones(crop.shape[:2], np.float32)))
    return outputs
