"""StyleGAN2 from a converted checkpoint in the model store (`{"g_ema": state_dict, "latent_avg": [D]}`).

The network's size, style dimension, mapping depth and channel table are read from the state_dict's
keys and shapes, so config-f 1024, config-e 256 and other published sizes load through one path;
`load_strict` then checks every key and shape. Categories live in W, the mapping network's output,
where attributes are close to linear.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from services.generator.engines import REGISTRY, STYLEGAN2_DEFAULT_WEIGHTS
from services.generator.engines.base import CastingEngine, rgb_to_bgr_uint8, seeded_normal
from services.generator.nets.stylegan2 import Generator
from shared.engines import Device
from shared.errors import WeightsMismatch
from shared.weights import ModelRecord, ModelStore, load_strict, load_torch_checkpoint

DEFAULT_WEIGHTS = STYLEGAN2_DEFAULT_WEIGHTS
INFO = REGISTRY.info("stylegan2")

_STYLE_KEY = re.compile(r"^style\.(\d+)\.weight$")
_TO_RGB_KEY = re.compile(r"^to_rgbs\.(\d+)\.bias$")


def infer_config(state: dict) -> dict:
    """Generator constructor arguments from a state_dict in the rosinality layout."""
    def need(key: str) -> torch.Tensor:
        if key not in state:
            raise WeightsMismatch(f"not a StyleGAN2 generator in the rosinality layout: key {key!r} is missing")
        return state[key]

    n_mlp = sum(1 for k in state if _STYLE_KEY.match(k))
    style_dim = int(need("style.1.weight").shape[1])
    levels = sum(1 for k in state if _TO_RGB_KEY.match(k))
    channels = {4: int(need("input.input").shape[1])}
    for level in range(levels):
        channels[2 ** (level + 3)] = int(need(f"convs.{2 * level}.conv.weight").shape[1])
    return {"size": 2 ** (levels + 2), "style_dim": style_dim, "n_mlp": n_mlp, "channels_override": channels}


def build_from_checkpoint(checkpoint, what: str) -> tuple[Generator, torch.Tensor]:
    """A checked Generator and its `latent_avg` from a loaded checkpoint object."""
    if not isinstance(checkpoint, dict) or "g_ema" not in checkpoint or "latent_avg" not in checkpoint:
        found = sorted(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise WeightsMismatch(f"{what}: expected a converted checkpoint {{'g_ema': state_dict, 'latent_avg': "
                              f"tensor}} (rosinality convert_weight.py); found {found}")
    state = checkpoint["g_ema"]
    generator = Generator(**infer_config(state))
    load_strict(generator, state, what)
    latent_avg = torch.as_tensor(checkpoint["latent_avg"], dtype=torch.float32).reshape(-1)
    if latent_avg.numel() != generator.style_dim:
        raise WeightsMismatch(f"{what}: latent_avg has {latent_avg.numel()} values; the generator's style "
                              f"dimension is {generator.style_dim}")
    return generator.eval(), latent_avg


class StyleGAN2Engine(CastingEngine):
    info = INFO
    latent_space = "W"

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "StyleGAN2Engine":
        """The model store's `weights` checkpoint (default stylegan2-ffhq-config-f), verified."""
        name = weights or DEFAULT_WEIGHTS
        path = models.path(name)  # EngineUnavailable when absent, WeightsMismatch on a wrong hash
        return cls(path, models.records()[name], device)

    def __init__(self, path: Path, record: ModelRecord, device: Device):
        self.weights = record
        self.device = device.torch()
        generator, latent_avg = build_from_checkpoint(load_torch_checkpoint(path), f"stylegan2 weights {record.name!r}")
        self.generator = generator.to(self.device)
        self.latent_avg = latent_avg.to(self.device)
        self.latent_dim = generator.style_dim
        self.resolution = generator.size

    def center(self) -> np.ndarray:
        return self.latent_avg.cpu().numpy().astype(np.float32)

    def seed_latents(self, seeds: list[int], truncation: float) -> np.ndarray:
        rows = []
        with torch.no_grad():
            for seed in seeds:  # one mapping pass per seed: the latent must not depend on the batch
                z = seeded_normal(seed, self.latent_dim).to(self.device)[None]
                w = self.generator.get_latent(z)[0]
                rows.append((self.latent_avg + truncation * (w - self.latent_avg)).cpu().numpy())
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.latent_dim), np.float32)

    def _forward(self, latents: torch.Tensor) -> list[np.ndarray]:
        image, _ = self.generator([latents], input_is_latent=True, randomize_noise=False)
        return rgb_to_bgr_uint8(image)
