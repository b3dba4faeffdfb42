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

import numpy as np
import torch

from shared.weights import EngineInfo, ModelRecord

SEED_MAX = 2 ** 32 - 1


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
    info: EngineInfo
    weights: ModelRecord  # the file actually loaded: name, sha256, licence
    latent_dim: int
    latent_space: str  # "W" (StyleGAN2 mapping output) or "z" (raw input)
    resolution: int  # side of the candidate portraits
    device: torch.device = torch.device("cpu")
    cuda_batch: int = 16

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

    def describe(self) -> dict:
        """Engine and weights provenance for every report; commercial use is what the loaded weights'
        record says (the code of both engines is MIT-compatible, the weights decide)."""
        return {**self.info.public(), "commercial_use": self.weights.commercial_use,
                "weights_record": self.weights.public(), "latent_space": self.latent_space,
                "latent_dim": self.latent_dim, "resolution": self.resolution}


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
