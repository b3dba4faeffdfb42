"""The demo engine: the 64×64 DCGAN shipped in the PyPI package `gan-face-generate`, upscaled ×4.

It works out of the box (no model import), which is its whole purpose; its faces are low quality and
its weights were trained on Microsoft's DigiFace-1M, licensed for non-commercial research only, so
every report and listing marks it `demo` and not for commercial use. The 64 px faces are upscaled
to 256 px portraits by the shared Real-ESRGAN x4plus runner (`shared.realesrgan`).
"""
from __future__ import annotations

import numpy as np
import torch

from services.generator.engines import DCGAN_LATENT_DIM, DCGAN_WEIGHTS, REGISTRY
from services.generator.engines.base import CastingEngine, rgb_to_bgr_uint8, seeded_normal
from shared import realesrgan
from shared.engines import Device
from shared.errors import EngineUnavailable, InvalidInput
from shared.weights import ModelStore, load_strict, load_torch_checkpoint

LATENT_DIM = DCGAN_LATENT_DIM
NATIVE_SIZE = DCGAN_WEIGHTS.input_size
INFO = REGISTRY.info("demo")


class DemoEngine(CastingEngine):
    info = INFO
    latent_space = "z"
    latent_dim = LATENT_DIM
    resolution = NATIVE_SIZE * realesrgan.NATIVE_SCALE

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "DemoEngine":
        """The packaged DCGAN (the model store is not needed); other `weights` are refused."""
        if weights not in (None, DCGAN_WEIGHTS.name):
            raise InvalidInput(f"the demo engine always uses its packaged weights; got weights={weights!r}")
        return cls(device)

    def __init__(self, device: Device):
        try:
            from gan_face_generate.models import Generator as DCGANGenerator
        except ImportError as exc:
            raise EngineUnavailable("the demo engine needs the package gan-face-generate==1.1.1 "
                                    "(install it with --no-deps)") from exc
        self.weights = DCGAN_WEIGHTS.record()
        self.device = device.torch()
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
