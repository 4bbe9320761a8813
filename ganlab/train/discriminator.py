"""A compact residual discriminator for training the StyleGAN2 demo models.

It follows the official design in spirit (equalised learning rate, residual blocks, minibatch
standard deviation) but is our own, small and CPU-friendly; it never ships in `assets/`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.models.ops import bias_act


class EqualConv(nn.Module):
    """Conv with weights stored N(0,1) and scaled by 1/sqrt(fan_in) at run time (equalised lr)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, act: str = "lrelu"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.gain = 1 / math.sqrt(in_ch * kernel * kernel)
        self.act, self.padding = act, kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.gain, padding=self.padding)
        return bias_act(x, self.bias, act=self.act)


class DBlock(nn.Module):
    """Two 3x3 convs then 2x average-pool down, plus a 1x1 residual path; halves the resolution."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv(in_ch, in_ch, 3)
        self.conv1 = EqualConv(in_ch, out_ch, 3)
        self.skip = EqualConv(in_ch, out_ch, 1, bias=False, act="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(self.conv1(self.conv0(x)), 2)
        return (x + y) * math.sqrt(0.5)


class Discriminator(nn.Module):
    """img [N, 3, R, R] in [-1, 1] -> realness logits [N, 1]."""

    def __init__(self, resolution: int, channel_base: int = 4096, channel_max: int = 64, mbstd_group: int = 4):
        super().__init__()
        ch = lambda res: min(channel_base // res, channel_max)  # noqa: E731
        self.mbstd_group = mbstd_group
        self.fromrgb = EqualConv(3, ch(resolution), 1)
        blocks, res = [], resolution
        while res > 4:
            blocks.append(DBlock(ch(res), ch(res // 2)))
            res //= 2
        self.blocks = nn.Sequential(*blocks)
        self.conv = EqualConv(ch(4) + 1, ch(4), 3)
        self.fc_weight = nn.Parameter(torch.randn(ch(4), ch(4) * 16))
        self.fc_bias = nn.Parameter(torch.zeros(ch(4)))
        self.out_weight = nn.Parameter(torch.randn(1, ch(4)))

    def minibatch_std(self, x: torch.Tensor) -> torch.Tensor:
        """Append the mean std over groups of samples, so D can see a lack of variety."""
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n)
        while n % g:
            g -= 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=[1, 2, 3])
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.fromrgb(img))
        x = self.conv(self.minibatch_std(x)).flatten(1)
        x = bias_act(x @ (self.fc_weight / math.sqrt(self.fc_weight.shape[1])).t(), self.fc_bias, act="lrelu")
        return x @ (self.out_weight / math.sqrt(self.out_weight.shape[1])).t()
