"""StyleGAN2 generator with the state_dict layout of rosinality/stylegan2-pytorch.

That layout is what `convert_weight.py` writes for NVIDIA's published checkpoints
(`stylegan2-ffhq-config-f.pt` = `{"g_ema": state_dict, "latent_avg": [512]}`), so those files load
with `strict=True`. Noise buffers `noises.noise_i` make `randomize_noise=False` fully deterministic.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shared.nn.stylegan2_ops import StyleSynthesis


def default_channels(channel_multiplier: int) -> dict[int, int]:
    """The reference's feature-channel table (512 up to 64 px whatever the multiplier for config-f)."""
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}


class Generator(StyleSynthesis):
    """`channels_override` replaces the channel table (for small test configurations); keys unchanged."""

    def __init__(self, size: int, style_dim: int, n_mlp: int, channel_multiplier: int = 2,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01,
                 channels_override: dict[int, int] | None = None):
        channels = {int(k): int(v) for k, v in (channels_override or default_channels(channel_multiplier)).items()}
        super().__init__(size, style_dim, n_mlp, channels, blur_kernel=blur_kernel, lr_mlp=lr_mlp)
        self.noises = nn.Module()
        for layer in range(self.num_layers):
            res = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, res, res))

    def stored_noise(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def forward(self, styles: list[torch.Tensor], return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1, truncation_latent: torch.Tensor | None = None,
                input_is_latent: bool = False, noise: Sequence[torch.Tensor] | None = None,
                randomize_noise: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns `(image [B,3,size,size] RGB, unclamped, about [-1,1]; W+ or None)`.

        Noise: an explicit list wins, else the stored buffers with `randomize_noise=False`, else fresh
        random noise per layer.
        """
        latent = self.styles_to_latent(styles, inject_index, truncation, truncation_latent, input_is_latent)
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else self.stored_noise()
        image = self.synthesize(latent, noise)
        return image, (latent if return_latents else None)
