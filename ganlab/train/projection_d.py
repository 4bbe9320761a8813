"""A small class-conditional projection discriminator for training the demo BigGAN.

BigGAN's discriminator in miniature: spectrally normalised convs in pre-activation residual blocks
that halve the resolution down to 4x4, ReLU, sum pooling, then `linear(h) + <embed(y), h>` (the
projection of Miyato & Koyama, 2018), so the class enters as an inner product, not an input
channel. It is our own code and never ships in `assets/`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _sn(module: nn.Module) -> nn.Module:
    """Orthogonal init (BigGAN's choice), then spectral norm, whose power iteration starts from it."""
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module)


def _sn_conv(in_ch: int, out_ch: int, kernel: int) -> nn.Module:
    return _sn(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2))


class DownBlock(nn.Module):
    """relu-conv3-relu-conv3-avgpool plus a 1x1 conv-avgpool shortcut; halves the resolution.

    The first block skips its input ReLU (the input is an image, not features) and pools before
    its shortcut conv, as BigGAN's D does, so the block sees signed pixel values.
    """

    def __init__(self, in_ch: int, out_ch: int, first: bool = False):
        super().__init__()
        self.first = first
        self.conv0 = _sn_conv(in_ch, out_ch, 3)
        self.conv1 = _sn_conv(out_ch, out_ch, 3)
        self.skip = _sn_conv(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv1(F.relu(self.conv0(h))), 2)
        shortcut = self.skip(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.skip(x), 2)
        return h + shortcut


class ProjectionDiscriminator(nn.Module):
    """(img [N, 3, R, R] in [-1, 1], labels [N] int64) -> realness logits [N].

    Widths are `ch * 2**i` for the i-th block, capped at `ch * max_mult`; R must be a power of two >= 8.
    """

    def __init__(self, resolution: int, num_classes: int, ch: int = 16, max_mult: int = 8):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        widths = [ch * min(2 ** i, max_mult) for i in range(resolution.bit_length() - 3)]
        self.blocks = nn.Sequential(*[DownBlock(3 if i == 0 else widths[i - 1], width, first=i == 0)
                                      for i, width in enumerate(widths)])
        self.linear = _sn(nn.Linear(widths[-1], 1))
        self.embed = _sn(nn.Embedding(num_classes, widths[-1]))

    def forward(self, img: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(img)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)
