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
        self._frozen = ops.FrozenWeights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The scaled weight (transposed) and bias are made once while the parameters stay unchanged.
        w_t = self._frozen.get("w", self.weight, lambda w: (w * self.weight_gain).t())
        b = self.bias
        if b is not None:
            b = self._frozen.get("b", b, lambda b: (b * self.bias_gain).unsqueeze(0))
        if w_t.dtype != x.dtype:
            w_t, b = w_t.to(x.dtype), None if b is None else b.to(x.dtype)
        if self.activation == "linear" and b is not None:
            return torch.addmm(b, x, w_t)
        return ops.bias_act(x.matmul(w_t), None if b is None else b[0], act=self.activation)


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
                     demodulate: bool = True) -> torch.Tensor:
    """The official inference path: each sample convolved with its own style-scaled copy of `weight`.

    `x` [N, I, H, W], `weight` [O, I, k, k], `styles` [N, I]; one grouped convolution. Its gradient
    needs a weight gradient per sample, so ganlab's default path scales activations instead.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    check_shape("styles", styles, [n, in_ch])
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
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
        self._frozen = ops.FrozenWeights()

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", fused: bool = False,
                noise_input: torch.Tensor | None = None) -> torch.Tensor:
        """`noise_input` [N or 1, 1, res, res] replaces the noise map (the projector optimises it).

        `fused` takes the official grouped-convolution path; the default scales the activations around
        one shared convolution, which is equal to 1e-5 and needs no per-sample weight gradient.
        """
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_input is not None:
            noise = noise_input * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        if fused:
            x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter)
            return ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain,
                                clamp=self.conv_clamp)
        check_shape("styles", styles, [x.shape[0], self.weight.shape[1]])
        layout = ops.layout_of(x)
        if self.up == 1:
            weight = self._frozen.get(f"w{layout}", self.weight, lambda w: w.contiguous(memory_format=layout))
            w_t = None
        else:
            weight = self.weight
            w_t = self._frozen.get(f"wt{layout}", self.weight,
                                   lambda w: w.transpose(0, 1).contiguous(memory_format=layout))
        fir = self.resample_filter
        if self.up > 1:
            fir = self._frozen.get("fir", fir, lambda f: ops.depthwise_filter(f, self.up ** 2, self.weight.shape[0]))
        y = ops.conv2d_resample(ops.scale_channels(x, styles), weight, f=fir, up=self.up,
                                padding=self.padding, w_transposed=w_t)
        if noise is not None:
            noise = noise.reshape(-1, 1, *noise.shape[-2:])
        weight_sq = self._frozen.get("sq", self.weight, lambda w: w.square().sum(dim=[2, 3]))
        return ops.modulated_bias_act(y, ops.demodulation(weight_sq, styles), noise, self.bias,
                                      act=self.activation, gain=self.act_gain, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv (no demodulation) from features to an RGB image contribution."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self._frozen = ops.FrozenWeights()

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if fused:
            x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        else:
            check_shape("styles", styles, [x.shape[0], self.weight.shape[1]])
            x = ops.pointwise_modulated(x, self._frozen.get("w", self.weight, lambda w: w[:, :, 0, 0]), styles)
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
        self._frozen = ops.FrozenWeights()

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "const", fused: bool = False,
                noise_inputs: dict[str, torch.Tensor] | None = None,
                memory_format: torch.memory_format = torch.contiguous_format) -> tuple[torch.Tensor, torch.Tensor]:
        """`ws` [N, num_conv + 1, w_dim]: the ws this block reads, in layer order.

        `memory_format` lays out the 4x4 block's features; later blocks keep the layout they are given.

        `noise_inputs` maps layer names ('conv0', 'conv1') to noise maps that override the buffers.
        """
        noise_inputs = noise_inputs or {}
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1]).contiguous(memory_format=memory_format)
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused=fused, noise_input=noise_inputs.get("conv0"))
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused, noise_input=noise_inputs.get("conv1"))
        if img is not None:
            fir = self._frozen.get("fir", self.resample_filter,
                                   lambda f: ops.depthwise_filter(f, 4, img.shape[1]))
            img = ops.upsample2d(img, fir)
        y = self.torgb(x, next(w_iter), fused=fused)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, C, R, R]; block b{R} reads ws[2*log2(R)-5 : 2*log2(R)-2]."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        # Features' layout; None picks per device: channels_last on the CPU (its transposed convolutions
        # run several times faster), the default layout on CUDA (faster there at batch 8, as fast at 1).
        self.memory_format: torch.memory_format | None = None
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

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", fused: bool = False,
                noise_inputs: dict[str, torch.Tensor] | None = None,
                cache: SynthesisCache | None = None) -> torch.Tensor:
        """`noise_inputs` maps 'b{R}.conv{i}' to [N or 1, 1, R, R] maps used instead of the noise buffers.

        With a `cache` (and no gradient), blocks whose ws equal the last render's are not run again.
        """
        check_shape("ws", ws, [None, self.num_ws, self.w_dim])
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        ws = ws.to(torch.float32)
        per_block: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in (noise_inputs or {}).items():
            block, layer = key.split(".")
            per_block.setdefault(block, {})[layer] = value
        slices = list(self.ws_slices().items())
        layout = self.memory_format or (torch.channels_last if ws.device.type == "cpu" else torch.contiguous_format)
        first, x, img = 0, None, None
        if cache is not None:
            first, x, img = cache.resume(self, ws, slices, noise_mode, noise_inputs)
        for i, (name, sl) in enumerate(slices[first:], start=first):
            x, img = getattr(self, name)(x, img, ws[:, sl], noise_mode=noise_mode, fused=fused,
                                         noise_inputs=per_block.get(name), memory_format=layout)
            if cache is not None:
                cache.keep(i, x, img, last=i == len(slices) - 1)
        return img


class SynthesisCache:
    """The block outputs of one stream of renders (e.g. one latent's slider edits).

    A render whose first blocks read the same ws as the last one resumes after them: an edit of the
    fine layers skips the coarse blocks. Reuse needs identical weights, noise and ws up to that block,
    deterministic noise and no gradient; otherwise every block runs (and the cache is refreshed).
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._ws: torch.Tensor | None = None
        self._outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    @staticmethod
    def _key_of(net: SynthesisNetwork, ws: torch.Tensor, noise_mode: str,
                noise_inputs: dict[str, torch.Tensor] | None) -> tuple | None:
        if noise_mode == "random" or torch.is_grad_enabled() or torch.is_autocast_enabled(ws.device.type):
            return None
        tensors = [*net.parameters(), *net.buffers(), *(noise_inputs or {}).values()]
        if any(t.is_inference() for t in tensors):  # they keep no version counter: nothing to compare
            return None
        state = tuple((id(t), t.data_ptr(), t.dtype, t._version) for t in tensors)
        return id(net), tuple(ws.shape), ws.dtype, ws.device, noise_mode, tuple(sorted(noise_inputs or {})), state

    def resume(self, net: SynthesisNetwork, ws: torch.Tensor, slices: list[tuple[str, slice]], noise_mode: str,
               noise_inputs: dict[str, torch.Tensor] | None) -> tuple[int, torch.Tensor | None, torch.Tensor | None]:
        """(first block to run, its input features, its input image) for rendering `ws`."""
        key = self._key_of(net, ws, noise_mode, noise_inputs)
        same = key is not None and key == self._key and len(self._outputs) == len(slices)
        first = 0
        if same:
            while first < len(slices) and torch.equal(ws[:, slices[first][1]], self._ws[:, slices[first][1]]):
                first += 1
        self._key, self._ws = key, ws.clone()
        self._outputs = self._outputs[:first] if same else []
        if first == 0:
            return 0, None, None
        x, img = self._outputs[first - 1]
        return first, x, (img.clone() if first == len(slices) else img)  # the caller may change what it gets

    def keep(self, index: int, x: torch.Tensor, img: torch.Tensor, last: bool = False) -> None:
        """Block `index`'s output (blocks arrive in order, from the one `resume` named). The last block's
        features are never resumed from, so only its image is kept."""
        if self._key is not None and index == len(self._outputs):
            self._outputs.append((None, img.clone()) if last else (x, img))  # the caller gets `img` itself


class Generator(nn.Module):
    """The full StyleGAN2 generator: mapping network then synthesis network."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.cfg = cfg
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)

    def _apply(self, fn, *args, **kwargs):
        """Moving or casting the weights (`.to`, `.cuda`, ...) first drops their converted copies,
        which would otherwise keep the old device's memory until the next forward pass."""
        for module in self.modules():
            frozen = getattr(module, "_frozen", None)
            if isinstance(frozen, ops.FrozenWeights):
                frozen.clear()
        return super()._apply(fn, *args, **kwargs)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const", fused: bool = False) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, fused=fused)
