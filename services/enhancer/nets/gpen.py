"""GPEN (GAN Prior Embedded Network) blind face restoration, layout of yangxy/GPEN `FullGenerator`.

A StyleGAN2 decoder whose noise inputs are replaced by the features of a downsampling encoder
(concatenated, not added), and whose z code is the encoder's output. Keys match `GPEN-BFR-512.pth`
(`generator.*`, `ecd0..ecd{log2(size)-2}`, `final_linear`), a bare state_dict loaded with strict=True.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shared.nn.stylegan2_ops import ConvLayer, EqualLinear, StyleSynthesis


def gpen_channels(channel_multiplier: int, narrow: float) -> dict[int, int]:
    return {4: int(512 * narrow), 8: int(512 * narrow), 16: int(512 * narrow), 32: int(512 * narrow),
            64: int(256 * channel_multiplier * narrow), 128: int(128 * channel_multiplier * narrow),
            256: int(64 * channel_multiplier * narrow), 512: int(32 * channel_multiplier * narrow),
            1024: int(16 * channel_multiplier * narrow)}


class FullGenerator(nn.Module):
    """Input: RGB `[B,3,size,size]` in [-1,1] (an aligned face). Output: `(image, W+ or None)`, same range."""

    def __init__(self, size: int, style_dim: int, n_mlp: int, channel_multiplier: int = 2,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01, isconcat: bool = True,
                 narrow: float = 1.0):
        super().__init__()
        channels = gpen_channels(channel_multiplier, narrow)
        self.size = size
        self.generator = StyleSynthesis(size, style_dim, n_mlp, channels, blur_kernel=blur_kernel, lr_mlp=lr_mlp,
                                        isconcat=isconcat)
        log_size = self.generator.log_size
        self.ecd0 = nn.Sequential(ConvLayer(3, channels[size], 1))
        self.encoder_names = [f"ecd{i}" for i in range(log_size - 1)]
        in_channel = channels[size]
        for level in range(log_size, 2, -1):
            out_channel = channels[2 ** (level - 1)]
            setattr(self, f"ecd{log_size - level + 1}",
                    nn.Sequential(ConvLayer(in_channel, out_channel, 3, downsample=True)))
            in_channel = out_channel
        self.final_linear = nn.Sequential(EqualLinear(channels[4] * 4 * 4, style_dim, activation="fused_lrelu"))

    def forward(self, x: torch.Tensor, return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1, truncation_latent: torch.Tensor | None = None,
                input_is_latent: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"GPEN-{self.size} needs a {self.size}×{self.size} input, got {tuple(x.shape[-2:])}")
        features = []
        for name in self.encoder_names:
            x = getattr(self, name)(x)
            features.append(x)
        z = self.final_linear(x.reshape(x.shape[0], -1))
        # each resolution feeds both convs of its level, coarsest first; the 4×4 level has one conv
        noise = [f for f in reversed(features) for _ in range(2)][1:]
        latent = self.generator.styles_to_latent([z], inject_index, truncation, truncation_latent, input_is_latent)
        image = self.generator.synthesize(latent, noise)
        return image, (latent if return_latents else None)
