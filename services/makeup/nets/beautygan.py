"""BeautyGAN generators (Li et al., ACM MM 2018), in the layouts of wtjiang98/BeautyGAN_pytorch.

Module names and `nn.Sequential` positions reproduce the published state_dict keys exactly, so a
checkpoint saved by the reference `solver_makeup.py` loads with `strict=True`:

- `BeautyGANGenerator` is the reference `Generator_branch` (`--whichG branch`, the default): two
  unshared stems for the source (`Branch_0`) and the reference (`Branch_1`), a fused encoder and
  residual bottleneck (`main`), and two heads: `branch_1` (source wearing the reference's makeup)
  and `branch_2` (reference with its makeup removed).
- `BeautyGANConcatGenerator` is the reference `Generator_makeup` (`--whichG normal`): both images
  concatenated on channels into one encoder, with a single 7×7 conv + tanh per head.

All convolutions are bias-free; every InstanceNorm is affine with per-instance statistics (no running
buffers), so results do not depend on batch composition. Inputs are RGB in [-1, 1], H and W divisible
by 4; outputs are tanh in [-1, 1].
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_norm_relu(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False),
            nn.InstanceNorm2d(out_ch, affine=True),
            nn.ReLU(inplace=True)]


def _upsample_norm_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
            nn.InstanceNorm2d(out_ch, affine=True),
            nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    """x + (conv3×3 → IN → ReLU → conv3×3 → IN)(x); the inner stack is named `main` as in the reference."""

    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(
            *_conv_norm_relu(channels, channels, 3, 1, 1),
            nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


def _stem(in_ch: int, conv_dim: int) -> nn.Sequential:
    """conv7×7 → IN → ReLU → conv4×4/2 → IN → ReLU: one image to conv_dim*2 channels at half size."""
    return nn.Sequential(*_conv_norm_relu(in_ch, conv_dim, 7, 1, 3),
                         *_conv_norm_relu(conv_dim, conv_dim * 2, 4, 2, 1))


def _refine_head(channels: int) -> nn.Sequential:
    """Two conv3×3 → IN → ReLU refinements, then conv7×7 to RGB and tanh (Generator_branch heads)."""
    return nn.Sequential(*_conv_norm_relu(channels, channels, 3, 1, 1),
                         *_conv_norm_relu(channels, channels, 3, 1, 1),
                         nn.Conv2d(channels, 3, 7, stride=1, padding=3, bias=False),
                         nn.Tanh())


class BeautyGANGenerator(nn.Module):
    """The reference `Generator_branch(conv_dim, repeat_num)`: forward(source, reference) -> (made_up, removed)."""

    def __init__(self, conv_dim: int = 64, repeat_num: int = 6):
        super().__init__()
        self.conv_dim = conv_dim
        self.repeat_num = repeat_num
        self.Branch_0 = _stem(3, conv_dim)
        self.Branch_1 = _stem(3, conv_dim)
        fused = conv_dim * 4
        self.main = nn.Sequential(
            *_conv_norm_relu(fused, fused, 4, 2, 1),
            *(ResidualBlock(fused) for _ in range(repeat_num)),
            *_upsample_norm_relu(fused, fused // 2),
            *_upsample_norm_relu(fused // 2, fused // 4),
        )
        self.branch_1 = _refine_head(conv_dim)
        self.branch_2 = _refine_head(conv_dim)

    def forward(self, source: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_spatial(source, reference)
        fused = torch.cat((self.Branch_0(source), self.Branch_1(reference)), dim=1)
        features = self.main(fused)
        return self.branch_1(features), self.branch_2(features)


class BeautyGANConcatGenerator(nn.Module):
    """The reference `Generator_makeup(conv_dim, repeat_num, input_nc=6)`: one encoder over both images."""

    def __init__(self, conv_dim: int = 64, repeat_num: int = 6, input_nc: int = 6):
        super().__init__()
        self.conv_dim = conv_dim
        self.repeat_num = repeat_num
        deep = conv_dim * 4
        self.main = nn.Sequential(
            *_conv_norm_relu(input_nc, conv_dim, 7, 1, 3),
            *_conv_norm_relu(conv_dim, conv_dim * 2, 4, 2, 1),
            *_conv_norm_relu(conv_dim * 2, deep, 4, 2, 1),
            *(ResidualBlock(deep) for _ in range(repeat_num)),
            *_upsample_norm_relu(deep, deep // 2),
            *_upsample_norm_relu(deep // 2, deep // 4),
        )
        self.branch_1 = nn.Sequential(nn.Conv2d(conv_dim, 3, 7, stride=1, padding=3, bias=False), nn.Tanh())
        self.branch_2 = nn.Sequential(nn.Conv2d(conv_dim, 3, 7, stride=1, padding=3, bias=False), nn.Tanh())

    def forward(self, source: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_spatial(source, reference)
        features = self.main(torch.cat((source, reference), dim=1))
        return self.branch_1(features), self.branch_2(features)


GENERATOR_CLASSES: dict[str, type[nn.Module]] = {
    "Generator_branch": BeautyGANGenerator,
    "Generator_makeup": BeautyGANConcatGenerator,
}


def _check_spatial(source: torch.Tensor, reference: torch.Tensor) -> None:
    """Two stride-2 stages and two stride-2 upsamplings only round-trip sizes divisible by 4."""
    if source.shape != reference.shape:
        raise ValueError(f"source {tuple(source.shape)} and reference {tuple(reference.shape)} must have one shape")
    height, width = source.shape[-2:]
    if height % 4 or width % 4:
        raise ValueError(f"BeautyGAN needs height and width divisible by 4, got {height}×{width}")
