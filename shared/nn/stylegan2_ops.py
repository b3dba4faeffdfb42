"""StyleGAN2 building blocks in pure PyTorch, shared by the StyleGAN2 generator and GPEN.

Module and attribute names follow rosinality/stylegan2-pytorch so that published checkpoints
(`stylegan2-ffhq-config-f.pt`, `GPEN-BFR-512.pth`) load with `strict=True`. Weights are stored raw
(unit variance) and scaled at run time ("equalized learning rate"), exactly as those checkpoints expect.
No CUDA extensions: `upfirdn2d` and the fused leaky ReLU are written with ordinary torch ops, so the
same code runs on CPU and GPU and in any float dtype.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """A normalised 2-D FIR kernel: the outer product of 1-D taps, summing to 1."""
    kernel = torch.tensor(taps, dtype=torch.float32)
    if kernel.ndim == 1:
        kernel = kernel[None, :] * kernel[:, None]
    return kernel / kernel.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, zero-pad (before, after), filter, then keep every `down`-th pixel.

    The filter is a true convolution (the kernel is flipped), which is what the reference CUDA kernel
    computes; it only matters for asymmetric kernels. The same `pad` applies to both axes.
    """
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    pad0, pad1 = pad
    if pad0 < 0 or pad1 < 0:
        raise ValueError(f"upfirdn2d pads must be ≥ 0 (cropping is not needed by these networks), got {pad}")
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    taps = torch.flip(kernel, [0, 1]).to(x.dtype)
    weight = taps[None, None].expand(channels, 1, *taps.shape)
    x = F.conv2d(x, weight, groups=channels)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None, negative_slope: float = LRELU_SLOPE,
                     scale: float = LRELU_GAIN) -> torch.Tensor:
    """`leaky_relu(x + bias) * sqrt(2)`, with `bias` per channel (dim 1)."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope=negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ScaledLeakyReLU(nn.Module):
    """The activation of a bias-free ConvLayer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, negative_slope=LRELU_SLOPE) * LRELU_GAIN


class PixelNorm(nn.Module):
    """Normalise each z code to unit RMS before the mapping network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate; `lr_mul` < 1 slows the mapping network down."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        if activation not in (None, "fused_lrelu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias=bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class Blur(nn.Module):
    """Low-pass FIR filter; after a stride-2 transposed conv the kernel carries the gain `factor**2`."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * (upsample_factor ** 2))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×`factor` upsampling by zero insertion and FIR filtering (the ToRGB skip path)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * (factor ** 2))
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by the style, then (optionally) demodulated.

    Every sample gets its own weights, so the batch runs as one grouped convolution. With
    `upsample`, a stride-2 transposed convolution is followed by a blur.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_channel, height, width = x.shape
        k = self.kernel_size
        style = self.modulation(style).view(batch, 1, in_channel, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(batch, self.out_channel, 1, 1, 1)
        x = x.reshape(1, batch * in_channel, height, width)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            out = out.view(batch, self.out_channel, out.shape[2], out.shape[3])
            return self.blur(out)
        weight = weight.reshape(batch * self.out_channel, in_channel, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=batch)
        return out.view(batch, self.out_channel, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    """Adds `weight * noise` (StyleGAN2), or concatenates it as extra channels (GPEN, `isconcat`).

    Without explicit noise, StyleGAN2 draws one noise channel per sample and GPEN one per feature channel.
    """

    def __init__(self, isconcat: bool = False):
        super().__init__()
        self.isconcat = isconcat
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            batch, channel, height, width = image.shape
            noise = image.new_empty(batch, channel if self.isconcat else 1, height, width).normal_()
        if self.isconcat:
            return torch.cat((image, self.weight * noise), dim=1)
        return image + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4×4 starting tensor of the synthesis network."""

    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    """Modulated conv, noise, bias + leaky ReLU: one layer of the synthesis network."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), demodulate: bool = True, isconcat: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel, demodulate=demodulate)
        self.noise = NoiseInjection(isconcat)
        self.activate = FusedLeakyReLU(out_channel * (2 if isconcat else 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    """1×1 modulated conv to RGB (no demodulation), added to the upsampled RGB of the previous level."""

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConvLayer(nn.Sequential):
    """[Blur →] EqualConv2d [→ leaky ReLU]; `downsample` blurs then convolves with stride 2."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, padding=padding, stride=stride,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel) if bias else ScaledLeakyReLU())
        super().__init__(*layers)


class StyleSynthesis(nn.Module):
    """Mapping network plus synthesis network: the part StyleGAN2 and GPEN's decoder share.

    `channels` maps resolution → feature channels. With `isconcat` (GPEN) every noise input is
    concatenated, doubling the channels each following layer sees. Subclasses decide where the
    per-layer noise comes from and call `styles_to_latent` + `synthesize`.
    """

    def __init__(self, size: int, style_dim: int, n_mlp: int, channels: dict[int, int],
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01, isconcat: bool = False):
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.n_mlp = n_mlp
        self.log_size = int(math.log2(size))
        if 2 ** self.log_size != size or size < 8:
            raise ValueError(f"size must be a power of two ≥ 8, got {size}")
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.channels = dict(channels)
        widen = 2 if isconcat else 1

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)])
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel,
                                isconcat=isconcat)
        self.to_rgb1 = ToRGB(self.channels[4] * widen, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channel = self.channels[4]
        for level in range(3, self.log_size + 1):
            out_channel = self.channels[2 ** level]
            self.convs.append(StyledConv(in_channel * widen, out_channel, 3, style_dim, upsample=True,
                                         blur_kernel=blur_kernel, isconcat=isconcat))
            self.convs.append(StyledConv(out_channel * widen, out_channel, 3, style_dim, blur_kernel=blur_kernel,
                                         isconcat=isconcat))
            # the reference builds ToRGB with its default kernel whatever `blur_kernel` is
            self.to_rgbs.append(ToRGB(out_channel * widen, style_dim))
            in_channel = out_channel

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """z → W through PixelNorm and the mapping MLP."""
        return self.style(z)

    def mean_latent(self, n_latent: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The average W of `n_latent` random z codes, the usual truncation centre."""
        device = self.input.input.device
        z = torch.randn(n_latent, self.style_dim, generator=generator, device=device)
        return self.style(z).mean(0, keepdim=True)

    def styles_to_latent(self, styles: list[torch.Tensor], inject_index: int | None, truncation: float,
                         truncation_latent: torch.Tensor | None, input_is_latent: bool) -> torch.Tensor:
        """One or two z/W codes (or one W+) → the W+ tensor [B, n_latent, style_dim].

        Truncation pulls each style toward `truncation_latent` before the broadcast; two styles
        switch at `inject_index` (style mixing).
        """
        if not 1 <= len(styles) <= 2:
            raise ValueError(f"expected one or two styles, got {len(styles)}")
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs a truncation_latent (e.g. latent_avg or mean_latent())")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) == 1:
            style = styles[0]
            return style if style.ndim == 3 else style.unsqueeze(1).repeat(1, self.n_latent, 1)
        if inject_index is None:
            raise ValueError("style mixing needs an explicit inject_index (reproducible results)")
        if not 1 <= inject_index < self.n_latent:
            raise ValueError(f"inject_index must be in [1, {self.n_latent - 1}], got {inject_index}")
        first = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
        second = styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
        return torch.cat([first, second], 1)

    def synthesize(self, latent: torch.Tensor, noise: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """W+ and one noise entry per layer (None = fresh random noise) → RGB image in about [-1, 1]."""
        if len(noise) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} noise inputs, got {len(noise)}")
        out = self.input(latent.shape[0])
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv_up, conv, noise_up, noise_same, to_rgb in zip(
                self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            out = conv_up(out, latent[:, i], noise=noise_up)
            out = conv(out, latent[:, i + 1], noise=noise_same)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip
