"""train-text: a few steps from the CLI, resumed from its checkpoint, exported as a folder that loads; a real
model's text model is refused with a message."""

from __future__ import annotations

import json

import torch

from ganlab.cli import main
from ganlab.text.toyclip import WordTokenizer, load_toyclip
from ganlab.train.text import TextTrainConfig, default_config, make_batch, multi_positive_loss, train_text


def test_the_loss_wants_images_to_fit_every_caption_they_satisfy():
    """Two faces that both satisfy two captions: plain CLIP targets (the diagonal) prefer pairing each face
    with one caption; the multi-positive targets prefer both faces close to both captions."""
    e0, e1, f = torch.eye(3)
    tied, paired = torch.stack([e0, e0, f]), torch.stack([e0, e1, f])
    match = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    scale = torch.tensor(20.0)

    def loss(emb: torch.Tensor, targets: torch.Tensor) -> float:
        return multi_positive_loss(emb, emb, scale, targets).item()

    assert loss(tied, match) < loss(paired, match)
    assert loss(paired, torch.eye(3)) < loss(tied, torch.eye(3))


def test_a_batch_matches_faces_and_objects_only_within_their_domain():
    batch = make_batch(12, 0.25, 7, WordTokenizer(default_config().vocab, 16))
    n_captions = batch.tokens.shape[0]
    assert batch.img.shape == (12, 3, 64, 64) and batch.match.shape == (12, n_captions) and n_captions > 12
    assert batch.match[:, :12].diagonal().all()  # the true captions, then the counterfactuals
    assert batch.match[:9, 9:12].sum() == 0 and batch.match[9:, :9].sum() == 0


def test_train_text_runs_resumes_and_exports(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "out"
    base = ["train-text", "--model", "toyfaces-64", "--batch", "8", "--run-dir", str(run), "--device", "cpu",
            "--threads", "1"]
    assert main(base + ["--steps", "2"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 2
    steps = [rec.step for rec in train_text(TextTrainConfig(steps=3, batch=8), run)]
    assert steps == [3]  # went on from the checkpoint, not from 0
    assert main(base + ["--steps", "4", "--export", "--out", str(out)]) == 0
    assert "exported toyclip-64" in capsys.readouterr().out
    meta = json.loads((out / "config.json").read_text())
    assert [(s["from"], s["to"]) for s in meta["training"]["stages"]] == [(0, 2), (2, 3), (3, 4)]
    assert set(meta["held_out"]) == {"rendered_faces", "toyfaces-64_samples"}
    assert load_toyclip(out).encode_text(["a face"]).shape == (1, 128)


def test_a_real_models_text_model_cannot_be_trained_here(capsys):
    assert main(["train-text", "--model", "stylegan2-ffhq-256", "--steps", "1"]) == 2
    assert "cannot be trained here" in capsys.readouterr().err
