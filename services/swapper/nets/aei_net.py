"""AEI-Net (FaceShifter, Li et al. 2019): the adaptive embedding integration network.

A multi-level attribute encoder (U-Net) turns the target face into eight attribute maps; the AAD
generator starts from the identity embedding and, at every scale, blends attribute-driven and
identity-driven modulations of its normalised activations with a learned per-pixel mask.

Key names, layer order and forward arithmetic follow the published checkpoint layout
(`AEI_Net(c_id=512)`, 311 state_dict entries). `width_divisor` divides every internal channel count
(image channels and `c_id` are kept) so the width-reduced parity fixture builds with the same code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Encoder widths of the published network, from the 128×128 map down to the 2×2 one.
ENCODER_WIDTHS = (32, 64, 128, 256, 512, 1024, 1024)
# (cin, cout, attribute channels) of the eight AAD residual blocks, widest first.
GENERATOR_BLOCKS = ((1024, 1024, 1024), (1024, 1024, 2048), (1024, 1024, 1024), (1024, 512, 512),
                    (512, 256, 256), (256, 128, 128), (128, 64, 64), (64, 3, 64))
IMAGE_CHANNELS = 3
CROP_SIZE = 256  # seven stride-2 convs take 256 to the 2×2 map that `up1` makes from z_id


def _upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


def _conv_down(cin: int, cout: int) -> nn.Sequential:
    """Conv 4×4 stride 2 without bias → BatchNorm → LeakyReLU(0.1); keys `.0` conv, `.1` norm."""
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.1, inplace=True))


class UpConcat(nn.Module):
    """Transposed conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.1), then concatenation with the skip."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.lrelu(self.bn(self.deconv(x))), skip), dim=1)


class MultiLevelAttributeEncoder(nn.Module):
    """U-Net encoder returning the 8 attribute maps z_attr1 (2×2) … z_attr8 (256×256)."""

    def __init__(self, width_divisor: int = 1):
        super().__init__()
        w = [c // width_divisor for c in ENCODER_WIDTHS]
        cins = [IMAGE_CHANNELS] + w[:-1]
        for i, (cin, cout) in enumerate(zip(cins, w), start=1):
            self.add_module(f"conv{i}", _conv_down(cin, cout))
        # deconv k: input = previous attribute map, output concatenated with encoder feature 6-k+1.
        skips = w[5::-1]  # widths of feat6 … feat1
        cin = w[6]
        for k, skip in enumerate(skips, start=1):
            self.add_module(f"deconv{k}", UpConcat(cin, skip))
            cin = 2 * skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        for i in range(1, 7):
            x = getattr(self, f"conv{i}")(x)
            feats.append(x)
        attrs = [self.conv7(x)]
        for k, skip in enumerate(reversed(feats), start=1):
            attrs.append(getattr(self, f"deconv{k}")(attrs[-1], skip))
        attrs.append(_upsample2(attrs[-1]))
        return tuple(attrs)


class AADLayer(nn.Module):
    """Adaptive attentional denormalisation: out = (1−M)·A + M·I on instance-normalised h."""

    def __init__(self, c_h: int, c_attr: int, c_id: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_attr, c_h, 1)  # γ_attr
        self.conv2 = nn.Conv2d(c_attr, c_h, 1)  # β_attr
        self.fc1 = nn.Linear(c_id, c_h)  # γ_id
        self.fc2 = nn.Linear(c_id, c_h)  # β_id
        self.norm = nn.InstanceNorm2d(c_h, affine=False)
        self.conv_h = nn.Conv2d(c_h, 1, 1)  # attention mask M

    def forward(self, h_in: torch.Tensor, z_attr: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        h = self.norm(h_in)
        attr_part = self.conv1(z_attr) * h + self.conv2(z_attr)
        id_part = self.fc1(z_id)[:, :, None, None] * h + self.fc2(z_id)[:, :, None, None]
        mask = torch.sigmoid(self.conv_h(h))
        return (1 - mask) * attr_part + mask * id_part


class AADResBlock(nn.Module):
    """AAD → ReLU → conv3×3 twice, plus a learned AAD shortcut when the width changes."""

    def __init__(self, cin: int, cout: int, c_attr: int, c_id: int):
        super().__init__()
        self.AAD1 = AADLayer(cin, c_attr, c_id)
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, bias=False)
        self.AAD2 = AADLayer(cin, c_attr, c_id)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.learned_shortcut = cin != cout
        if self.learned_shortcut:
            self.AAD3 = AADLayer(cin, c_attr, c_id)
            self.conv3 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)

    def forward(self, h: torch.Tensor, z_attr: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(self.AAD1(h, z_attr, z_id)))
        x = self.conv2(F.relu(self.AAD2(x, z_attr, z_id)))
        if self.learned_shortcut:
            h = self.conv3(F.relu(self.AAD3(h, z_attr, z_id)))
        return x + h


class AADGenerator(nn.Module):
    """From z_id (2×2 via a transposed conv) up to the 256×256 tanh image, one AAD block per scale."""

    def __init__(self, c_id: int = 512, width_divisor: int = 1):
        super().__init__()

        def scaled(c: int) -> int:
            return c if c == IMAGE_CHANNELS else c // width_divisor

        self.up1 = nn.ConvTranspose2d(c_id, scaled(GENERATOR_BLOCKS[0][0]), 2, 1, 0)
        for i, (cin, cout, c_attr) in enumerate(GENERATOR_BLOCKS, start=1):
            self.add_module(f"AADBlk{i}", AADResBlock(scaled(cin), scaled(cout), scaled(c_attr), c_id))

    def forward(self, attrs: tuple[torch.Tensor, ...], z_id: torch.Tensor) -> torch.Tensor:
        x = self.up1(z_id.reshape(z_id.shape[0], -1, 1, 1))
        last = len(GENERATOR_BLOCKS)
        for i in range(1, last):
            x = _upsample2(getattr(self, f"AADBlk{i}")(x, attrs[i - 1], z_id))
        return torch.tanh(getattr(self, f"AADBlk{last}")(x, attrs[last - 1], z_id))


class AEI_Net(nn.Module):  # noqa: N801 - the checkpoint's class name
    """forward(Xt, z_id) -> (Y, attrs): Xt is a BGR [-1,1] 256×256 crop, z_id an L2-normalised
    ArcFace embedding; Y is the swapped face in the same layout."""

    def __init__(self, c_id: int = 512, width_divisor: int = 1):
        super().__init__()
        self.encoder = MultiLevelAttributeEncoder(width_divisor)
        self.generator = AADGenerator(c_id, width_divisor)

    def forward(self, Xt: torch.Tensor, z_id: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:  # noqa: N803
        attrs = self.encoder(Xt)
        return self.generator(attrs, z_id), attrs
