"""The demo BigGAN trainer on a tiny config: batch-statistics mode, standing statistics, resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_pretrained_biggan import BigGANConfig
from pytorch_pretrained_biggan.model import BigGANBatchNorm

from ganlab.data.toyobjects import CLASS_NAMES
from ganlab.models.biggan import load_biggan_folder
from ganlab.settings import assets_dir
from ganlab.train.biggan_trainer import (
    TOYOBJECTS_64_CONFIG, BigGANTrainConfig, batch_statistics, export_biggan, new_generator, one_hot,
    standing_statistics, toyobjects_renderer, train_biggan, truncated_z,
)

TINY = BigGANConfig(output_dim=32, z_dim=16, class_embed_dim=16, channel_width=4, num_classes=3,
                    layers=[[False, 16, 8], [True, 8, 4], [True, 4, 2], [True, 2, 1]],
                    attention_layer_position=2, eps=1e-4, n_stats=51)
TINY_NAMES = CLASS_NAMES[:3]
TCFG = BigGANTrainConfig(steps=3, batch=8, d_ch=4, checkpoint_every=1, sheet_every=2, sheet_cols=2,
                         standing_batches=2, seed=3)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The test machine's two cores are shared: OpenMP's barriers with two threads then cost a
    scheduler slice each (a 256x64 QR in orthogonal init takes 0.45 s instead of 0.5 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(run_dir: Path, stop_after: int | None = None) -> list:
    render = toyobjects_renderer(TINY.output_dim, TINY.num_classes)
    records = []
    for rec in train_biggan(TCFG, render, run_dir, gcfg=TINY, class_names=TINY_NAMES):
        records.append(rec)
        if len(records) == stop_after:
            break
    return records


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, list]:
    run_dir = tmp_path_factory.mktemp("full")
    return run_dir, _train(run_dir)


def _eval_and_batch_stat_images(net, truncation: float, batches: int = 1,
                                n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Images through the stored statistics and through each batch's own, for the same z and classes."""
    rng = np.random.RandomState(100)
    stored, batch = [], []
    for _ in range(batches):
        z = truncated_z(n, TINY.z_dim, truncation, rng)
        c = one_hot(torch.from_numpy(rng.randint(TINY.num_classes, size=n)), TINY.num_classes)
        with torch.no_grad():
            stored.append(net(z, c, truncation))
            with batch_statistics(net):
                batch.append(net(z, c, truncation))
    return torch.cat(stored), torch.cat(batch)


def test_toy_config_is_the_shipped_one():
    shipped = json.loads((assets_dir() / "models" / "toyobjects-64" / "config.json").read_text())
    assert json.loads(json.dumps(TOYOBJECTS_64_CONFIG.to_dict())) == shipped


@pytest.mark.parametrize("conditional", [True, False])
def test_layer_normalises_with_batch_statistics(conditional):
    bn = BigGANBatchNorm(6, condition_vector_dim=5 if conditional else None, conditional=conditional)
    if not conditional:
        torch.nn.init.ones_(bn.weight), torch.nn.init.zeros_(bn.bias)
    x = torch.randn(4, 6, 3, 3) * 3 + 2
    cond = torch.zeros(4, 5) if conditional else None  # zero condition: gain 1, offset 0
    with batch_statistics(bn):
        out = bn(x, 1.0, cond)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(6), atol=1e-5)
    assert torch.allclose(out.var(dim=(0, 2, 3), unbiased=False), torch.ones(6), atol=1e-3)
    assert "forward" not in vars(bn)  # the package's own forward is back
    assert torch.allclose(bn(x, 1.0, cond), x / (1 + 1e-4) ** 0.5, atol=1e-5)  # stored stats: 0 and 1


def test_running_buffers_matter_only_outside_batch_statistics():
    net = new_generator(TINY, seed=0).eval()
    stored, batch = _eval_and_batch_stat_images(net, 1.0)
    with torch.no_grad():
        for bn in net.modules():
            if isinstance(bn, BigGANBatchNorm):
                bn.running_means.add_(0.5)
                bn.running_vars.mul_(3.0)
    stored2, batch2 = _eval_and_batch_stat_images(net, 1.0)
    assert torch.equal(batch, batch2)
    assert (stored - stored2).abs().max() > 0.05
    with batch_statistics(net), pytest.raises(RuntimeError, match="already active"):
        with batch_statistics(net):
            pass


def test_three_steps_train_with_finite_losses(full_run):
    run_dir, records = full_run
    assert [r.step for r in records] == [1, 2, 3]
    for rec in records:
        assert set(rec.losses) == {"D_real", "D_fake", "G"}
        assert all(np.isfinite(v) for v in rec.losses.values())
    assert records[-1].checkpoint == run_dir / "checkpoint.pt"
    sheet = np.asarray(Image.open(records[-1].sheet))
    assert records[1].sheet.is_file()
    assert sheet.shape == (2 + 3 * 34, 2 + 2 * 34, 3)  # one row per class, sheet_cols columns
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["G_ema"].values())
    assert int(ckpt["standing_step"]) == 3  # the last step computed standing statistics


def test_standing_statistics_fill_every_row_and_match_batch_statistics():
    net = new_generator(TINY, seed=1)
    standing_statistics(net, batch=64, batches=4, seed=0)
    assert net.training  # the mode is restored
    layers = [m for m in net.modules() if isinstance(m, BigGANBatchNorm)]
    for bn in layers:
        assert torch.isfinite(bn.running_means).all() and (bn.running_vars > 0).all()
        assert (bn.running_means != 0).any(dim=1).all() and (bn.running_vars != 1).any(dim=1).all()
    net.eval()
    for truncation in (1.0, 0.5):
        # Pooled over batches: one random-init tiny batch's statistics vary by ~8% (2-channel layers).
        stored, batch = _eval_and_batch_stat_images(net, truncation, batches=6)
        assert torch.isfinite(stored).all()
        mean_s, mean_b = stored.mean(dim=(0, 2, 3)), batch.mean(dim=(0, 2, 3))
        std_s, std_b = stored.std(dim=(0, 2, 3)), batch.std(dim=(0, 2, 3))
        assert (mean_s - mean_b).abs().max() < 0.05, (truncation, mean_s, mean_b)
        assert ((std_s - std_b).abs() / std_b).max() < 0.06, (truncation, std_s, std_b)


def test_resume_continues_the_step_count_and_the_run(full_run, tmp_path):
    assert [r.step for r in _train(tmp_path, stop_after=2)] == [1, 2]
    assert int(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"]) == 2
    assert [r.step for r in _train(tmp_path)] == [3]
    resumed = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    straight = torch.load(full_run[0] / "checkpoint.pt", weights_only=True)
    for name in ("G", "G_ema", "D"):
        for key, value in straight[name].items():
            assert torch.allclose(resumed[name][key], value, atol=1e-5), (name, key)


def test_export_loads_strictly_with_class_names(full_run, tmp_path):
    out = export_biggan(full_run[0], tmp_path / "tiny", "tiny")
    assert sorted(p.name for p in out.iterdir()) == ["class_names.json", "config.json", "model.safetensors"]
    model = load_biggan_folder(out)
    assert model.class_names == TINY_NAMES
    assert model.resolution == 32 and model.num_classes == 3
    img = model.synthesize(model.sample_z(4, seed=0), c=model.class_vector("triangle", 4))
    assert img.shape == (4, 3, 32, 32) and torch.isfinite(img).all()


def test_export_computes_standing_statistics_of_an_interrupted_run(tmp_path):
    _train(tmp_path / "run", stop_after=1)
    assert int(torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["standing_step"]) == -1
    model = load_biggan_folder(export_biggan(tmp_path / "run", tmp_path / "out", "tiny"))
    for bn in model.net.modules():
        if isinstance(bn, BigGANBatchNorm):
            assert (bn.running_vars != 1).any(dim=1).all()
