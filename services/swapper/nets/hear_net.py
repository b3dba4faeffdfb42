"""HEAR-Net (FaceShifter stage 2): heuristic error acknowledging refinement.

A small U-Net that takes the stage-1 swap Ŷ_st and the heuristic error Xt − Y_tt (what AEI-Net fails
to reconstruct of the target itself: occluders such as hands, hair, glasses) and returns the refined
swap with those occlusions restored. Key names follow the published `HearNet()` checkpoint
(65 state_dict entries); `width_divisor` divides the internal widths for the parity fixture.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DOWN_WIDTHS = (64, 128, 256, 512, 512)
INPUT_CHANNELS = 6  # cat(Ŷ_st, Xt − Y_tt)
OUTPUT_CHANNELS = 3


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.1, inplace=True))


class HearNet(nn.Module):
    """forward(x [B,6,H,W]) -> refined image [B,3,H,W] in [-1,1]; H and W divisible by 32."""

    def __init__(self, width_divisor: int = 1):
        super().__init__()
        w = [c // width_divisor for c in DOWN_WIDTHS]
        cins = [INPUT_CHANNELS] + w[:-1]
        for i, (cin, cout) in enumerate(zip(cins, w), start=1):
            self.add_module(f"down{i}", _down(cin, cout))
        # up k: input = previous decoder map (concatenated with its skip from up2 on), output width of skip 5-k.
        cin = w[4]
        for k, skip in enumerate(w[3::-1], start=1):
            self.add_module(f"up{k}", _up(cin, skip))
            cin = 2 * skip
        self.up5 = nn.Conv2d(cin, OUTPUT_CHANNELS, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i in range(1, 6):
            x = getattr(self, f"down{i}")(x)
            skips.append(x)
        skips.pop()  # the bottleneck is not concatenated with itself
        for k in range(1, 5):
            x = torch.cat((skips.pop(), getattr(self, f"up{k}")(x)), dim=1)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return torch.tanh(self.up5(x))
