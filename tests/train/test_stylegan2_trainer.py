"""The StyleGAN2 trainer runs, resumes where it stopped and exports a model that loads strictly."""

from __future__ import annotations

import math

import pytest
import torch

from ganlab.data.toyfaces import render_faces
from ganlab.models.loaders import load_checkpoint
from ganlab.models.stylegan2 import StyleGAN2Config
from ganlab.train.stylegan2_trainer import TrainConfig, export_ema, train_stylegan2

TINY = StyleGAN2Config(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128, channel_max=16)


def render(n: int, seed: int):
    return render_faces(n, seed, 16)[0]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_steps_yield_finite_losses_sheets_and_checkpoints(tmp_path):
    cfg = TrainConfig(steps=3, batch=4, r1_every=2, checkpoint_every=2, sheet_every=3, d_channel_base=128,
                      d_channel_max=16)
    records = list(train_stylegan2(TINY, cfg, render, tmp_path))
    assert [r.step for r in records] == [1, 2, 3]
    assert all(math.isfinite(v) for r in records for v in r.losses.values())
    assert "R1" in records[0].losses and "R1" not in records[1].losses
    assert records[1].checkpoint is not None and records[2].sheet.is_file()


def test_a_stopped_run_resumes_from_its_checkpoint(tmp_path):
    first = TrainConfig(steps=2, batch=4, checkpoint_every=2, sheet_every=100, d_channel_base=128, d_channel_max=16)
    list(train_stylegan2(TINY, first, render, tmp_path))
    more = TrainConfig(steps=3, batch=4, checkpoint_every=2, sheet_every=100, d_channel_base=128, d_channel_max=16)
    assert [r.step for r in train_stylegan2(TINY, more, render, tmp_path)] == [3]


def test_export_writes_the_ema_generator_in_the_shipped_format(tmp_path):
    cfg = TrainConfig(steps=2, batch=4, checkpoint_every=2, sheet_every=100, d_channel_base=128, d_channel_max=16)
    list(train_stylegan2(TINY, cfg, render, tmp_path / "run"))
    out = export_ema(tmp_path / "run", tmp_path / "model", "tiny")
    model = load_checkpoint(out, name="tiny")
    assert model.resolution == 16 and model.cfg == TINY
    ema = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["G_ema"]
    assert all(torch.equal(model.net.state_dict()[k], v) for k, v in ema.items())
