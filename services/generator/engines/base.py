"""What every face generator offers the casting logic: seeded latents, a centre, rendering.

Determinism: a seed's latent comes from its own `torch.Generator`, and on CPU every face is rendered
in its own forward pass, because batched CPU convolutions and matrix products pick other kernels
and differ in the last bits, which can flip a rounded pixel. So the same weights and seed give the
same bytes whatever else is in the batch. On CUDA faces are rendered in batches of `cuda_batch`
for speed; bytes are then reproducible for the same request, and equal to the CPU ones within
float tolerance only.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from services.generator.contract import SEED_MAX
from shared.engines import Device, EngineInfo
from shared.stage import StageContext
from shared.weights import ModelRecord, ModelStore



def seeded_normal(seed: int, dim: int) -> torch.Tensor:
    """N(0, I) of length `dim`, a function of the seed alone."""
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in [0, {SEED_MAX}], got {seed}")
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


def rgb_to_bgr_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """[B,3,H,W] RGB with nominal range [-1,1] → BGR uint8 H×W×3 (clipped, rounded half up)."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5 + 0.5).floor().clamp(0, 255)
    array = scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(a[:, :, ::-1]) for a in array]


class CastingEngine(ABC):
    """A generator engine on the shared `Engine` interface (shared/engines.py)."""
    info: ClassVar[EngineInfo]
    weights: ModelRecord  # the file actually loaded: name, sha256, licence
    latent_dim: int
    latent_space: str  # "W" (StyleGAN2 mapping output) or "z" (raw input)
    resolution: int  # side of the candidate portraits
    device: torch.device = torch.device("cpu")
    cuda_batch: int = 16

    @classmethod
    @abstractmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "CastingEngine":
        """The engine with verified weights on `device` (`weights`: another model-store checkpoint)."""

    @abstractmethod
    def seed_latents(self, seeds: list[int], truncation: float) -> np.ndarray:
        """[N, latent_dim] float32 latents for the seeds, pulled toward `center()` by `truncation`."""

    @abstractmethod
    def center(self) -> np.ndarray:
        """The latent of the "average face", the centre of truncation and of `sample_near`."""

    @abstractmethod
    def _forward(self, latents: torch.Tensor) -> list[np.ndarray]:
        """A batch of latents on `device` → BGR uint8 portraits."""

    def render(self, latents: np.ndarray) -> list[np.ndarray]:
        latents = np.asarray(latents, dtype=np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(f"expected latents [N, {self.latent_dim}], got {latents.shape}")
        chunk = self.cuda_batch if self.device.type == "cuda" else 1
        portraits: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, len(latents), chunk):
                batch = torch.from_numpy(latents[start:start + chunk]).to(self.device)
                portraits.extend(self._forward(batch))
        return portraits

    def run_batch(self, latent_sets: list[np.ndarray], ctx: StageContext) -> list[list[np.ndarray]]:
        """Each [N, latent_dim] set of latents rendered into N portraits, all sets in one `render`."""
        rendered = self.render(np.concatenate(latent_sets)) if latent_sets else []
        portraits = []
        for latents in latent_sets:
            portraits.append(rendered[:len(latents)])
            rendered = rendered[len(latents):]
        return portraits

    def describe(self) -> dict:
        """Engine and weights provenance for every report; commercial use by the one rule, the loaded
        weights judged by their record (it stands for the engine's first weight file)."""
        used = {self.info.weight_files[0].name: self.weights}
        return {**self.info.public(), "commercial_use": self.info.commercial_use_with(used),
                "weights_record": self.weights.public(), "latent_space": self.latent_space,
                "latent_dim": self.latent_dim, "resolution": self.resolution}
