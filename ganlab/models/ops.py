"""Low-level ops of StyleGAN2 in plain PyTorch: FIR up-sampling, bias + activation, resampling conv.

These follow the arithmetic of the official reference ops (the pure-PyTorch paths of `upfirdn2d`,
`bias_act` and `conv2d_resample`) so that official weights give the official images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

LRELU_ALPHA = 0.2
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0)}


def setup_filter(taps: list[float]) -> torch.Tensor:
    """Separable 1-D taps -> normalised 2-D FIR filter [k, k] (sums to 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear",
             gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """Add a per-channel bias (dim 1), apply `act`, scale by `gain` (default: the act's own), clamp."""
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_ALPHA)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    gain = ACTIVATION_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1; negative crops), FIR filter, downsample.

    `x` is [N, C, H, W]; `f` is a 2-D filter [k, k] (flipped before the correlation, i.e. this is a
    true convolution, as in the reference), or the [C, 1, k, k] result of `depthwise_filter`, whose
    gain is already in it.
    """
    if f.ndim == 4 and gain != 1:
        raise ValueError("a prepared depthwise filter carries its gain; pass gain=1")
    n, c, h, w = x.shape
    padx0, padx1, pady0, pady1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    conv_pad = [0, 0]
    if padx0 == padx1 >= 0 and pady0 == pady1 >= 0:
        conv_pad = [pady0, padx0]
    else:
        x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
        x = x[:, :, max(-pady0, 0): x.shape[2] - max(-pady1, 0), max(-padx0, 0): x.shape[3] - max(-padx1, 0)]
    weight = _as_dtype(f if f.ndim == 4 else depthwise_filter(f, gain, c), x)
    x = F.conv2d(x, weight, padding=conv_pad, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def depthwise_filter(f: torch.Tensor, gain: float, channels: int) -> torch.Tensor:
    """The 2-D FIR filter `f` [k, k] as the flipped, scaled [channels, 1, k, k] weight of a depthwise conv."""
    return (f * gain).flip([0, 1])[None, None].repeat(channels, 1, 1, 1)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample [N, C, H, W] by `up` with FIR filter `f`, keeping the signal's centre and energy.

    `f` is the 2-D filter, or `depthwise_filter(f, up * up, C)` made once by the caller.
    """
    k = f.shape[-1]
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    if f.ndim == 4:
        return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1))
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    padding: int = 0, groups: int = 1, w_transposed: torch.Tensor | None = None) -> torch.Tensor:
    """2-D correlation of `x` with `w` ([O, I/groups, k, k]), optionally upsampled by 2 through FIR `f`.

    The upsampling path is a strided transposed convolution followed by the FIR filter, which is
    the official fast path and yields the same numbers as the official ops. `w_transposed` may give
    that path's weight ([I, O, k, k], groups 1) ready-made, and `f` its `depthwise_filter(f, 4, O)`.
    """
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    if up != 2 or f is None:
        raise ValueError("only up=1, or up=2 with a filter, is supported")
    out_ch, in_per_group, kh, kw = w.shape
    fk = f.shape[-1]  # the same for a 2-D filter and a prepared [O, 1, k, k] one
    p0 = padding + (fk + up - 1) // 2 - (kw - 1)
    p1 = padding + (fk - up) // 2 - (kw - up)
    if w_transposed is not None and groups == 1:
        wt = w_transposed
    elif groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    pt = max(min(-p0, -p1), 0)
    x = F.conv_transpose2d(x, wt, stride=up, padding=pt, groups=groups)
    pad = (p0 + pt, p1 + pt, p0 + pt, p1 + pt)
    if f.ndim == 4:
        return upfirdn2d(x, f, padding=pad)
    return upfirdn2d(x, f, padding=pad, gain=up * up)


def layout_of(x: torch.Tensor) -> torch.memory_format:
    """`channels_last` for NHWC-laid [N, C, H, W] tensors, else the default layout."""
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return torch.contiguous_format
    return torch.channels_last


class FrozenWeights:
    """Weights converted once into the layout a convolution wants, while they stay unchanged.

    A convolution given features in one layout and weights in another converts the weights at every
    call, forward and backward. Weights that require a gradient are converted in the graph instead.
    """

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple, torch.Tensor]] = {}

    def clear(self) -> None:
        """Drop every converted copy (e.g. before the module moves to another device)."""
        self._kept.clear()

    def get(self, tag: str, weight: torch.Tensor, make) -> torch.Tensor:
        if weight.requires_grad or weight.is_inference():  # inference tensors keep no version to compare
            return make(weight)
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
        kept = self._kept.get(tag)
        if kept is None or kept[0] != key:
            with torch.inference_mode(False):  # a copy made while rendering must serve autograd later
                kept = (key, make(weight).detach())
            self._kept[tag] = kept
        return kept[1]


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of [N, D] to unit mean square (StyleGAN's pixel norm on latents)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _as_dtype(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`t` in `like`'s dtype; no dispatch at all when it already is (these ops run per layer and step)."""
    return t if t.dtype == like.dtype else t.to(like.dtype)


def channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum over pixels of `a * b`, [N, C, H, W] -> [N, C], efficient in either memory layout."""
    return (a * b).sum(dim=(2, 3))


class _ScaleChannels(torch.autograd.Function):
    """`x` [N, C, H, W] times `s` [N, C]; the gradient of `s` is one dot product per channel.

    Autograd's plain multiply would keep a product tensor and reduce it in a second pass.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, s)
        return x * _as_dtype(s, x).reshape(*s.shape, 1, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, s = ctx.saved_tensors
        grad_x = grad * _as_dtype(s, grad).reshape(*s.shape, 1, 1) if ctx.needs_input_grad[0] else None
        grad_s = channel_dot(grad, _as_dtype(x, grad)) if ctx.needs_input_grad[1] else None
        return grad_x, grad_s


def scale_channels(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """`x` [N, C, H, W] scaled per sample and channel by `s` [N, C] (memory layout kept)."""
    return _ScaleChannels.apply(x, s)


class _ModulatedBiasAct(torch.autograd.Function):
    """clamp(act(y * d + noise + b) * gain), in four passes over `y` forward and five backward.

    The gain folds into d, noise and b (leaky ReLU is positively homogeneous), the output is written
    in place, and the backward pass reads only `y` and the output (whose sign is the pre-activation's).
    On the CPU, where a host check costs nothing, a clamp that nothing reached is skipped both ways
    when a backward pass will follow (without one, clamping costs less than checking).
    """

    @staticmethod
    def forward(ctx, y, d, noise, b, slope, gain, clamp):
        gd = _as_dtype(d * gain, y).reshape(*d.shape, 1, 1)
        out = torch.addcmul(_as_dtype(b * gain, y).reshape(1, -1, 1, 1), y, gd)
        if noise is not None:
            out.add_(_as_dtype(noise, y), alpha=gain)
        if slope is not None:
            F.leaky_relu(out, slope, inplace=True)
        if clamp is not None and out.device.type == "cpu" and any(ctx.needs_input_grad[:4]):
            if -clamp < out.amin() and out.amax() < clamp:  # (amin, amax: aminmax is far slower on CPU)
                clamp = None  # nothing reached the clamp: a read now saves a write now and a pass backward
        if clamp is not None:
            out.clamp_(-clamp, clamp)
        ctx.slope, ctx.gain, ctx.clamp = slope, gain, clamp
        ctx.noise_shape = None if noise is None else noise.shape
        ctx.save_for_backward(y, gd, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        y, gd, out = ctx.saved_tensors
        m = grad
        if ctx.clamp is not None:
            m = torch.ops.aten.hardtanh_backward(m, out, -ctx.clamp, ctx.clamp)
        if ctx.slope is not None:
            m = torch.ops.aten.leaky_relu_backward(m, out, ctx.slope, True)
        need_y, need_d, need_noise, need_b = ctx.needs_input_grad[:4]
        grad_d = channel_dot(m, y) * ctx.gain if need_d else None
        grad_b = m.sum(dim=(0, 2, 3)) * ctx.gain if need_b else None
        grad_noise = None
        if need_noise:
            grad_noise = m.sum(dim=1, keepdim=True) * ctx.gain
            if ctx.noise_shape[0] == 1 and grad_noise.shape[0] != 1:
                grad_noise = grad_noise.sum(dim=0, keepdim=True)
        grad_y = None
        if need_y:
            grad_y = m.mul_(gd) if m is not grad else m * gd
        return grad_y, grad_d, grad_noise, grad_b, None, None, None


def modulated_bias_act(y: torch.Tensor, d: torch.Tensor, noise: torch.Tensor | None, b: torch.Tensor,
                       act: str = "lrelu", gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """The end of a synthesis layer: `bias_act(y * d + noise, b, act, gain, clamp)` fused.

    `y` [N, C, H, W], `d` [N, C] (demodulation), `noise` [N or 1, 1, H, W] or None, `b` [C].
    """
    if act not in ACTIVATION_GAIN:
        raise ValueError(f"unknown activation {act!r}")
    gain = ACTIVATION_GAIN[act] if gain is None else gain
    if gain <= 0:
        raise ValueError("the fused op folds the gain into the activation, which needs gain > 0")
    slope = LRELU_ALPHA if act == "lrelu" else None
    clamp = clamp if clamp is not None and clamp >= 0 else None
    return _ModulatedBiasAct.apply(y, d, noise, b, slope, gain, clamp)


def demodulation(weight_sq: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Demodulation coefficients [N, O] from `weight_sq` [O, I] (a weight's squares summed over its
    kernel, `weight.square().sum(dim=[2, 3])`) and `styles` [N, I].

    Equal to normalising each sample's modulated weights, without building those [N, O, I, k, k] weights.
    """
    return (styles.square() @ weight_sq.t() + eps).rsqrt()


def pointwise_modulated(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution of `x` [N, I, H, W] with `weight` [O, I] scaled per sample by `styles` [N, I].

    One batched matrix product over the pixels, in whichever layout `x` has (so its gradient keeps it).
    """
    n, _, h, w = x.shape
    wmod = weight.to(x.dtype).unsqueeze(0) * styles.to(x.dtype).unsqueeze(1)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        y = torch.matmul(x.permute(0, 2, 3, 1).reshape(n, h * w, -1), wmod.transpose(1, 2))
        return y.transpose(1, 2).reshape(n, -1, h, w)
    return torch.matmul(wmod, x.flatten(2)).reshape(n, -1, h, w)
