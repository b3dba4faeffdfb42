"""ArcFace IR-SE50 identity encoder (InsightFace_Pytorch `Backbone(50, 0.6, 'ir_se')` layout).

FaceShifter uses it both to condition AEI-Net (z_id) and, in its training losses, to measure identity.
Input: [B,3,112,112] in [-1,1]; output: the L2-normalised 512-d embedding. Key names and order
(input_layer, output_layer, then body.0..23) match the published `model_ir_se50.pth`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (input channels, depth, units) of the four stages; each stage's first unit has stride 2.
STAGES = {
    50: ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3)),
    100: ((64, 64, 3), (64, 128, 13), (128, 256, 30), (256, 512, 3)),
    152: ((64, 64, 3), (64, 128, 8), (128, 256, 36), (256, 512, 3)),
}
EMBEDDING_SIZE = 512
INPUT_SIZE = 112


class SqueezeExcite(nn.Module):
    """Channel attention: global pool → 1×1 reduce → ReLU → 1×1 expand → sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * gate


class BottleneckIR(nn.Module):
    """Improved residual unit: BN → conv3×3 → PReLU → conv3×3 (stride) → BN [→ SE], plus shortcut."""

    def __init__(self, cin: int, depth: int, stride: int, squeeze_excite: bool):
        super().__init__()
        if cin == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)  # subsampling only, no parameters
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        layers = [nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                  nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        if squeeze_excite:
            layers.append(SqueezeExcite(depth))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class Backbone(nn.Module):
    """forward(x [B,3,112,112] in [-1,1]) -> L2-normalised embedding [B,512]."""

    def __init__(self, num_layers: int = 50, drop_ratio: float = 0.6, mode: str = "ir_se"):
        super().__init__()
        if num_layers not in STAGES:
            raise ValueError(f"num_layers must be one of {sorted(STAGES)}, not {num_layers}")
        if mode not in ("ir", "ir_se"):
            raise ValueError(f"mode must be 'ir' or 'ir_se', not {mode!r}")
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop_ratio), nn.Flatten(),
                                          nn.Linear(512 * 7 * 7, EMBEDDING_SIZE), nn.BatchNorm1d(EMBEDDING_SIZE))
        units = []
        for cin, depth, count in STAGES[num_layers]:
            units.append(BottleneckIR(cin, depth, 2, mode == "ir_se"))
            units.extend(BottleneckIR(depth, depth, 1, mode == "ir_se") for _ in range(count - 1))
        self.body = nn.Sequential(*units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), p=2, dim=1)
