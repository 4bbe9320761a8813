"""The fast synthesis path: its fused ops against plain autograd, against the official-style grouped
convolution, in both memory layouts, and the render cache that slider edits use."""

from __future__ import annotations

import pytest
import torch

from ganlab.models import ops
from ganlab.models.stylegan2 import Generator, StyleGAN2Config, SynthesisCache


def small_generator(seed: int = 0, clamp: float | None = 256) -> Generator:
    torch.manual_seed(seed)
    cfg = StyleGAN2Config(z_dim=32, w_dim=32, img_resolution=32, channel_base=1024, channel_max=32,
                          mapping_layers=2, conv_clamp=clamp)
    g = Generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():  # non-zero noise strengths and biases, so that every term matters
        for p in g.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return g


def reference_bias_act(y, d, noise, b, clamp):
    z = y * d[:, :, None, None] + (0 if noise is None else noise)
    return ops.bias_act(z, b, act="lrelu", clamp=clamp)


@pytest.mark.parametrize("clamp", [None, 1.0])
@pytest.mark.parametrize("noise_batch", [0, 1, 2])
def test_modulated_bias_act_matches_plain_ops_and_gradcheck(clamp, noise_batch):
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    d = (torch.rand(2, 3, generator=gen, dtype=torch.float64) + 0.5).requires_grad_(True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    noise = None
    if noise_batch:
        noise = torch.randn(noise_batch, 1, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    out = ops.modulated_bias_act(y, d, noise, b, clamp=clamp)
    ref = reference_bias_act(y, d, noise, b, clamp)
    assert torch.allclose(out, ref, atol=1e-12)
    if clamp is not None:
        assert (out.abs() == clamp).any(), "the test must reach the clamp"
    inputs = (y, d, noise, b) if noise is not None else (y, d, b)

    def fn(*args):
        yy, dd, *rest = args
        nn_ = rest[0] if noise is not None else None
        return ops.modulated_bias_act(yy, dd, nn_, rest[-1], clamp=clamp)

    assert torch.autograd.gradcheck(fn, inputs)


def test_scale_channels_gradcheck_in_both_layouts():
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64)
        x = x.contiguous(memory_format=layout).requires_grad_(True)
        assert torch.autograd.gradcheck(ops.scale_channels, (x, s))
        assert ops.scale_channels(x, s).is_contiguous(memory_format=layout)


def test_pointwise_modulated_equals_a_modulated_1x1_convolution():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 4, 4, generator=gen)
    w = torch.randn(3, 5, generator=gen)
    s = torch.randn(2, 5, generator=gen)
    want = torch.stack([torch.nn.functional.conv2d(x[i:i + 1], (w * s[i])[:, :, None, None])[0] for i in range(2)])
    for layout in (torch.contiguous_format, torch.channels_last):
        got = ops.pointwise_modulated(x.contiguous(memory_format=layout), w, s)
        assert torch.allclose(got, want, atol=1e-5)


def _image_and_grads(g: Generator, ws: torch.Tensor, noise: dict, **kw):
    ws = ws.clone().requires_grad_(True)
    noise = {k: v.clone().requires_grad_(True) for k, v in noise.items()}
    img = g.synthesis(ws, noise_inputs=noise, **kw)
    probe = torch.linspace(-1, 1, img.numel()).reshape(img.shape)
    (img * probe).sum().backward()
    return img.detach(), ws.grad, {k: v.grad for k, v in noise.items()}


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fast_path_equals_the_official_grouped_convolution(layout):
    g = small_generator()
    ws = torch.randn(3, g.num_ws, 32)
    noise = {k: torch.randn(3, 1, *s) for k, s in g.synthesis.noise_shapes().items()}
    g.synthesis.memory_format = layout
    img_f, gws_f, gn_f = _image_and_grads(g, ws, noise, fused=True)
    img, gws, gn = _image_and_grads(g, ws, noise)
    assert (img - img_f).abs().max() < 1e-5
    assert (gws - gws_f).abs().max() < 1e-4 * gws_f.abs().max()
    for k in gn:
        assert (gn[k] - gn_f[k]).abs().max() < 1e-4 * gn_f[k].abs().max(), k


def test_weight_gradients_for_training_equal_the_grouped_path():
    g = small_generator(clamp=0.5)  # a clamp the activations reach, so its mask is exercised
    ws = torch.randn(2, g.num_ws, 32)
    grads = {}
    for fused in (True, False):
        g.requires_grad_(True)
        g.zero_grad()
        g.synthesis(ws, noise_mode="const", fused=fused).square().sum().backward()
        grads[fused] = {n: p.grad.clone() for n, p in g.synthesis.named_parameters()}
    assert grads[True].keys() == grads[False].keys()
    for name, want in grads[True].items():
        assert (grads[False][name] - want).abs().max() <= 1e-4 * (want.abs().max() + 1e-6), name


def test_frozen_weights_follow_an_in_place_change():
    g = small_generator()
    ws = torch.randn(1, g.num_ws, 32)
    with torch.inference_mode():
        before = g.synthesis(ws)
    with torch.no_grad():
        g.synthesis.b32.conv1.weight.mul_(-1)
    with torch.inference_mode():
        after = g.synthesis(ws)
    with torch.no_grad():
        g.synthesis.b32.conv1.weight.mul_(-1)
        fresh = Generator(g.cfg).eval()
        fresh.load_state_dict(g.state_dict())
        fresh.synthesis.b32.conv1.weight.mul_(-1)
        want = fresh.synthesis(ws)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, want, atol=1e-6)
    # a weight copy made while rendering serves a later gradient computation
    ws.requires_grad_(True)
    g.synthesis(ws).sum().backward()
    assert ws.grad is not None and torch.isfinite(ws.grad).all()


def _counting_blocks(g: Generator) -> list[str]:
    calls: list[str] = []
    for name in g.synthesis.ws_slices():
        getattr(g.synthesis, name).register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    return calls


def test_cache_resumes_at_the_first_block_whose_ws_changed():
    g = small_generator()
    calls = _counting_blocks(g)
    cache = SynthesisCache()
    ws = torch.randn(1, g.num_ws, 32)
    fine = ws.clone()
    fine[:, -2:] += 1.0  # the last two ws: read by the last block only
    with torch.inference_mode():
        first = g.synthesis(ws, cache=cache)
        calls.clear()
        edited = g.synthesis(fine, cache=cache)
        assert calls == ["b32"]
        assert torch.equal(edited, g.synthesis(fine))
        calls.clear()
        assert torch.equal(g.synthesis(ws, cache=cache), first)  # back to the original: b32 again
        assert calls == ["b32"]
        calls.clear()
        assert torch.equal(g.synthesis(ws, cache=cache), first)  # nothing changed: nothing runs
        assert calls == []


def test_cache_is_not_used_with_gradients_random_noise_or_changed_weights():
    g = small_generator()
    calls = _counting_blocks(g)
    cache = SynthesisCache()
    ws = torch.randn(1, g.num_ws, 32)
    blocks = list(g.synthesis.ws_slices())
    with torch.inference_mode():
        g.synthesis(ws, cache=cache)
    calls.clear()
    g.synthesis(ws.clone().requires_grad_(True), cache=cache)  # gradients wanted: a full run
    assert calls == blocks
    with torch.inference_mode():
        g.synthesis(ws, cache=cache)
        calls.clear()
        g.synthesis(ws, noise_mode="random", cache=cache)
        assert calls == blocks
        g.synthesis(ws, cache=cache)
        with torch.no_grad():
            g.synthesis.b8.conv0.bias.add_(1.0)
        calls.clear()
        g.synthesis(ws, cache=cache)
        assert calls == blocks


def test_moving_the_generator_drops_the_converted_weight_copies():
    g = small_generator()
    ws = torch.randn(1, g.num_ws, 32)
    with torch.inference_mode():
        before = g.synthesis(ws)
    layer = g.synthesis.b32.conv1
    assert layer._frozen._kept
    g.to(torch.float64)
    assert not layer._frozen._kept
    with torch.no_grad():
        g.synthesis.b32.conv1.weight.mul_(2)  # changed while away: the copies made next must follow
        g.synthesis.b32.conv1.weight.div_(2)
    g.to(torch.float32)
    with torch.inference_mode():
        after = g.synthesis(ws)
    assert torch.allclose(before, after, atol=1e-6)
    assert all(kept[1].dtype == torch.float32 for kept in layer._frozen._kept.values())


def test_cache_follows_replaced_weights_and_hands_out_its_own_copy():
    g = small_generator()
    cache = SynthesisCache()
    ws = torch.randn(1, g.num_ws, 32)
    with torch.inference_mode():
        first = g.synthesis(ws, cache=cache)
        first.mul_(0)  # the caller's tensor: the cache must not share it
        again = g.synthesis(ws, cache=cache)
        assert again.abs().sum() > 0
    other = small_generator(seed=1)
    g.load_state_dict(other.state_dict(), assign=True)  # new tensors, fresh version counters
    with torch.inference_mode():
        assert torch.allclose(g.synthesis(ws, cache=cache), other.synthesis(ws), atol=1e-6)


def test_the_fused_ops_refuse_what_they_cannot_do():
    y = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    d = torch.rand(1, 2, dtype=torch.float64) + 0.5
    b = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="gain > 0"):
        ops.modulated_bias_act(y, d, None, b, gain=-1.0)
    out = ops.modulated_bias_act(y, d, None, b)
    (grad,) = torch.autograd.grad(out.sum(), y, create_graph=True)
    with pytest.raises(RuntimeError):  # a second derivative would be silently wrong: refused instead
        grad.sum().backward()
