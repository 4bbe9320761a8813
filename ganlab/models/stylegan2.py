"""StyleGAN2 / StyleGAN2-ADA generator, numerically equal to the official NVlabs implementation.

Parameter names, shapes and `state_dict()` order equal the official ones, so an official
checkpoint loads one-to-one. Classes follow the data flow: mapping network, synthesis layer,
toRGB, synthesis block, synthesis network, generator. ganlab always runs in fp32 (or autocast);
the official fp16 settings are kept in the config only so that round trips lose nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ganlab.errors import BadCheckpoint
from ganlab.models import ops
from ganlab.models.base import check_shape

NOISE_MODES = ("const", "random", "none")


@dataclass
class StyleGAN2Config:
    """Every architectural choice of the generator; saved as JSON next to the weights."""

    z_dim: int = 512                          # size of z; the mapping network's input
    c_dim: int = 0                            # size of the conditioning label c (0 = unconditional)
    w_dim: int = 512                          # size of w, the intermediate latent
    img_resolution: int = 1024                # output height and width, a power of two >= 4
    img_channels: int = 3                     # 3 for RGB
    mapping_layers: int = 8                   # fully connected layers in the mapping network
    mapping_lr_multiplier: float = 0.01       # equalised-lr multiplier of the mapping layers
    w_avg_beta: float = 0.995                 # EMA decay of the tracked mean w during training
    embed_features: int | None = None         # size of the c embedding (None = w_dim)
    layer_features: int | None = None         # hidden size of the mapping layers (None = w_dim)
    channel_base: int = 32768                 # channels at resolution r are min(channel_base // r, channel_max)
    channel_max: int = 512                    # upper bound of channels in any block
    num_fp16_res: int = 0                     # official fp16 blocks; kept for round trips, ganlab runs fp32
    conv_clamp: float | None = None           # clamp of conv outputs (official: 256 when trained with fp16)
    resample_filter: list[int] = field(default_factory=lambda: [1, 3, 3, 1])  # FIR taps of up-sampling
    use_noise: bool = True                    # per-pixel noise inputs in every synthesis layer
    activation: str = "lrelu"                 # activation of mapping and synthesis layers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StyleGAN2Config":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadCheckpoint(f"unknown StyleGAN2 config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_official_kwargs(cls, kw: dict[str, Any]) -> "StyleGAN2Config":
        """Read the `init_kwargs` that official snapshots store for `training.networks.Generator`."""
        mapping = dict(kw.get("mapping_kwargs") or {})
        synthesis = dict(kw.get("synthesis_kwargs") or {})
        arch = synthesis.pop("architecture", "skip")
        if arch != "skip":
            raise BadCheckpoint(f"only the 'skip' generator architecture is supported, this one is {arch!r}")
        runtime_only = {"fp16_channels_last"}
        known_mapping = {"num_layers", "lr_multiplier", "w_avg_beta", "embed_features", "layer_features", "activation"}
        known_synth = {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "resample_filter", "use_noise",
                       "activation"} | runtime_only
        extra = (set(mapping) - known_mapping) | (set(synthesis) - known_synth)
        if extra:
            raise BadCheckpoint(f"unsupported generator options in checkpoint: {sorted(extra)}")
        if mapping.get("activation", "lrelu") != synthesis.get("activation", "lrelu"):
            raise BadCheckpoint("mapping and synthesis activations differ; not supported")
        return cls(
            z_dim=kw["z_dim"], c_dim=kw["c_dim"], w_dim=kw["w_dim"],
            img_resolution=kw["img_resolution"], img_channels=kw["img_channels"],
            mapping_layers=mapping.get("num_layers", 8),
            mapping_lr_multiplier=mapping.get("lr_multiplier", 0.01),
            w_avg_beta=mapping.get("w_avg_beta", 0.995),
            embed_features=mapping.get("embed_features"), layer_features=mapping.get("layer_features"),
            channel_base=synthesis.get("channel_base", 32768), channel_max=synthesis.get("channel_max", 512),
            num_fp16_res=synthesis.get("num_fp16_res", 0), conv_clamp=synthesis.get("conv_clamp"),
            resample_filter=list(synthesis.get("resample_filter", [1, 3, 3, 1])),
            use_noise=synthesis.get("use_noise", True), activation=synthesis.get("activation", "lrelu"),
        )

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Two ws per block (one for 4x4) plus one for the last toRGB: 18 at 1024 px."""
        return 2 * len(self.block_resolutions)


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: weights are stored N(0,1)/lr and scaled at run time."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and c) -> ws [N, num_ws, w_dim]; also tracks the mean w used for truncation."""

    def __init__(self, cfg: StyleGAN2Config, num_ws: int):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, num_ws
        self.num_layers = cfg.mapping_layers
        self.w_avg_beta = cfg.w_avg_beta
        embed = (cfg.embed_features if cfg.embed_features is not None else cfg.w_dim) if cfg.c_dim else 0
        hidden = cfg.layer_features if cfg.layer_features is not None else cfg.w_dim
        features = [cfg.z_dim + embed] + [hidden] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        if cfg.c_dim:
            self.embed = FullyConnectedLayer(cfg.c_dim, embed)
        for i in range(cfg.mapping_layers):
            layer = FullyConnectedLayer(features[i], features[i + 1], activation=cfg.activation,
                                        lr_multiplier=cfg.mapping_lr_multiplier)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        parts = []
        if self.z_dim:
            check_shape("z", z, [None, self.z_dim])
            parts.append(ops.normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim:
            if c is None:
                raise ValueError(f"this generator is conditional: pass c of shape [N, {self.c_dim}]")
            check_shape("c", c, [None, self.c_dim])
            parts.append(ops.normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
    """Pull ws [N, num_ws, w_dim] towards `w_avg` by `psi`; only the first `cutoff` layers if given."""
    if psi == 1:
        return ws
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    ws = ws.clone()
    ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return ws


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, fused: bool = True) -> torch.Tensor:
    """Convolve each sample with its own style-scaled (and demodulated) copy of `weight`.

    `x` [N, I, H, W], `weight` [O, I, k, k], `styles` [N, I]. `fused` runs one grouped
    convolution (fast at small batches); otherwise activations are scaled around a shared conv.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    check_shape("styles", styles, [n, in_ch])
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = ops.conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        return x + noise.to(x.dtype) if noise is not None else x
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw)
    x = ops.conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, padding=padding, groups=n)
    x = x.reshape(n, -1, *x.shape[2:])
    return x + noise if noise is not None else x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling x2) + noise + bias + activation; reads one w."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, cfg: StyleGAN2Config,
                 up: int = 1, kernel_size: int = 3):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, cfg.use_noise
        self.activation, self.conv_clamp = cfg.activation, cfg.conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = ops.ACTIVATION_GAIN[cfg.activation]
        self.register_buffer("resample_filter", ops.setup_filter(cfg.resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if cfg.use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", fused: bool = True,
                noise_input: torch.Tensor | None = None) -> torch.Tensor:
        """`noise_input` [N or 1, 1, res, res] replaces the noise map (the projector optimises it)."""
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_input is not None:
            noise = noise_input * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused=fused)
        return ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv (no demodulation) from features to an RGB image contribution."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const or upsampling conv0) -> conv1 -> toRGB added to the upsampled skip image."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, cfg: StyleGAN2Config):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", ops.setup_filter(cfg.resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, cfg.w_dim, resolution, cfg, up=2)
        self.conv1 = SynthesisLayer(out_channels, out_channels, cfg.w_dim, resolution, cfg)
        self.torgb = ToRGBLayer(out_channels, cfg.img_channels, cfg.w_dim, cfg.conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "const", fused: bool = True,
                noise_inputs: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`ws` [N, num_conv + 1, w_dim]: the ws this block reads, in layer order.

        `noise_inputs` maps layer names ('conv0', 'conv1') to noise maps that override the buffers.
        """
        noise_inputs = noise_inputs or {}
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused=fused, noise_input=noise_inputs.get("conv0"))
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused, noise_input=noise_inputs.get("conv1"))
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused=fused)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, C, R, R]; block b{R} reads ws[2*log2(R)-5 : 2*log2(R)-2]."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        self.block_resolutions = cfg.block_resolutions
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = cfg.channels(res // 2) if res > 4 else 0
            block = SynthesisBlock(in_channels, cfg.channels(res), res, cfg)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1

    def ws_slices(self) -> dict[str, slice]:
        """The ws each block reads, by block name: neighbouring blocks share one index (toRGB + next conv0)."""
        out, idx = {}, 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            out[f"b{res}"] = slice(idx, idx + block.num_conv + block.num_torgb)
            idx += block.num_conv
        return out

    def noise_shapes(self) -> dict[str, tuple[int, int]]:
        """Every noise input by name ('b8.conv0', ...) with its [H, W]."""
        return {name.removesuffix(".noise_const"): tuple(buf.shape) for name, buf in self.named_buffers()
                if name.endswith("noise_const")}

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", fused: bool = True,
                noise_inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """`noise_inputs` maps 'b{R}.conv{i}' to [N or 1, 1, R, R] maps used instead of the noise buffers."""
        check_shape("ws", ws, [None, self.num_ws, self.w_dim])
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        ws = ws.to(torch.float32)
        per_block: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in (noise_inputs or {}).items():
            block, layer = key.split(".")
            per_block.setdefault(block, {})[layer] = value
        x = img = None
        for name, sl in self.ws_slices().items():
            x, img = getattr(self, name)(x, img, ws[:, sl], noise_mode=noise_mode, fused=fused,
                                         noise_inputs=per_block.get(name))
        return img


class Generator(nn.Module):
    """The full StyleGAN2 generator: mapping network then synthesis network."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.cfg = cfg
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const", fused: bool = True) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, fused=fused)
