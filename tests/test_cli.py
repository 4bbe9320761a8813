"""The CLI lists models and writes samples; user errors print one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganlab.cli import main


def test_models_lists_every_model_with_its_status(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "toyfaces-64" in out and "ready" in out
    assert "stylegan2-ffhq-1024" in out and "missing" in out


def test_sample_writes_one_deterministic_png_per_seed(tmp_path):
    assert main(["sample", "--model", "toyfaces-64", "--seeds", "1,2,4-5", "--out", str(tmp_path / "a")]) == 0
    assert main(["sample", "--model", "toyfaces-64", "--seeds", "1", "--out", str(tmp_path / "b")]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["seed0001.png", "seed0002.png", "seed0004.png", "seed0005.png"]
    a = np.asarray(Image.open(tmp_path / "a" / "seed0001.png"))
    assert a.shape == (64, 64, 3)
    assert np.array_equal(a, np.asarray(Image.open(tmp_path / "b" / "seed0001.png")))
    assert not np.array_equal(a, np.asarray(Image.open(tmp_path / "a" / "seed0002.png")))


def test_sample_of_a_biggan_model_needs_and_uses_a_class(tmp_path, capsys):
    assert main(["sample", "--model", "toyobjects-64", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "class-conditional" in capsys.readouterr().err
    assert main(["sample", "--model", "toyobjects-64", "--seeds", "0", "--class", "3", "--out", str(tmp_path)]) == 0


def test_missing_weights_print_one_clear_message_and_no_traceback(tmp_path):
    env = {"GANLAB_OFFLINE": "1", "GANLAB_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "ganlab", "sample", "--model", "stylegan2-ffhq-1024", "--seeds", "1",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "stylegan2-ffhq-1024" in proc.stderr and "to fix:" in proc.stderr


def test_bad_seed_list_is_refused(tmp_path, capsys):
    assert main(["sample", "--model", "toyfaces-64", "--seeds", "a,b", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_align_writes_aligned_faces_and_reports_skipped_files(tmp_path, capsys):
    from skimage import data

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(data.astronaut()).save(src / "astronaut.png")
    Image.new("RGB", (200, 200), "white").save(src / "blank.png")
    (src / "notes.txt").write_text("not an image")
    assert main(["align", str(src), "--out", str(tmp_path / "out"), "--size", "256", "--backend", "dlib"]) == 0
    face = Image.open(tmp_path / "out" / "astronaut" / "face_0.png")
    assert face.size == (256, 256)
    captured = capsys.readouterr()
    assert "skipped blank.png" in captured.err + captured.out
    assert "aligned 1 of 2 images" in captured.out


def test_align_of_a_missing_path_is_refused(tmp_path, capsys):
    assert main(["align", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_project_writes_latents_images_video_and_metrics_for_a_folder(tmp_path, monkeypatch):
    import json

    import imageio.v2 as imageio

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    src = tmp_path / "targets"
    src.mkdir()
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 255, (80, 64, 3), dtype=np.uint8)).save(src / f"t{seed}.png")
    (src / "broken.png").write_text("no")
    out = tmp_path / "out"
    assert main(["project", "--model", "toyfaces-64", "--target", str(src), "--steps", "4", "--frame-every", "2",
                 "--batch", "2", "--out", str(out)]) == 0
    for name in ("t1", "t2"):
        files = {p.name for p in (out / name).iterdir()}
        assert {"latent.npz", "projected_w.npz", "noise.npz", "target.png", "proj.png", "proj.mp4",
                "metrics.json"} <= files
        info = json.loads((out / name / "metrics.json").read_text())
        assert info["steps_run"] == 4 and "psnr" in info["metrics"] and info["notes"]
        with np.load(out / name / "projected_w.npz") as data:
            assert data["w"].shape == (1, 10, 128)
        frames = imageio.mimread(out / name / "proj.mp4")
        assert len(frames) == 2 and frames[0].shape == (64, 128, 3)


def test_project_settings_and_flags_reach_the_engine(tmp_path, monkeypatch):
    import json

    import ganlab.invert.methods as methods
    from ganlab.data.toyfaces import render_faces

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    target = tmp_path / "face.png"
    Image.fromarray(render_faces(1, 78)[0][0]).save(target)
    seen, real_invert = [], methods.invert
    monkeypatch.setattr(methods, "invert", lambda *a, **k: seen.append(a[4]) or real_invert(*a, **k))
    runs = {"tuned-bf16": ["--settings", "tuned", "--bf16"], "tuned-l1": ["--settings", "tuned", "--pixel-loss", "l1"],
            "official-l1": ["--pixel-loss", "l1"]}
    for name, flags in runs.items():
        assert main(["project", "--model", "toyfaces-64", "--target", str(target), "--steps", "2", *flags,
                     "--out", str(tmp_path / name)]) == 0
    got = {name: (c.initial_learning_rate, c.pixel_loss, c.pixel_weight, c.autocast) for name, c in zip(runs, seen)}
    assert got == {"tuned-bf16": (0.2, "mse", 1.0, True), "tuned-l1": (0.2, "l1", 1.0, False),
                   "official-l1": (0.1, "l1", 1.0, False)}
    info = json.loads((tmp_path / "tuned-l1" / "face" / "metrics.json").read_text())
    assert [set(h) for h in info["history"]] == [{"step", "distance", "noise_reg", "pixel_l1"}] * 2


@pytest.mark.parametrize("method, steps_run", [("fast", 0), ("landscape", 3)])
def test_project_with_the_shipped_encoder_and_landscape_map(tmp_path, monkeypatch, method, steps_run):
    import json

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    target = tmp_path / "face.png"
    from ganlab.data.toyfaces import render_faces

    Image.fromarray(render_faces(1, 77)[0][0]).save(target)
    out = tmp_path / "out"
    assert main(["project", "--model", "toyfaces-64", "--target", str(target), "--method", method, "--space", "w",
                 "--steps", "3", "--out", str(out)]) == 0
    info = json.loads((out / "face" / "metrics.json").read_text())
    assert info["steps_run"] == steps_run and info["space"] == "w+"  # these methods always give w+
    assert info["metrics"]["psnr"] > 15


def test_project_gives_inputs_with_the_same_stem_their_own_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    src = tmp_path / "targets"
    src.mkdir()
    picture = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(picture).save(src / "face.png")
    Image.fromarray(picture).save(src / "face.jpg")
    out = tmp_path / "out"
    assert main(["project", "--model", "toyfaces-64", "--target", str(src), "--steps", "1", "--frame-every", "0",
                 "--batch", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["face_jpg", "face_png"]
    assert "toyfaces-64 is a demo model that draws cartoon faces: it cannot reproduce a photo" in capsys.readouterr().out


def test_project_onto_a_full_disk_is_one_line_and_leaves_no_partial_folder(tmp_path, monkeypatch, capsys):
    import errno

    from ganlab.invert import outputs

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    target = tmp_path / "t.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(target)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.Image.Image, "save", full)  # target.png, after the three .npz files
    out = tmp_path / "out"
    assert main(["project", "--model", "toyfaces-64", "--target", str(target), "--steps", "1",
                 "--frame-every", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: the disk is full") and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_train_runs_a_demo_generator_and_refuses_others(tmp_path, capsys):
    from ganlab.cli import main

    assert main(["train", "--model", "toyfaces-64", "--steps", "1", "--batch", "2", "--run-dir", str(tmp_path),
                 "--device", "cpu"]) == 0
    assert (tmp_path / "samples_000001.png").is_file() and any(tmp_path.glob("*.pt"))
    assert main(["train", "--model", "stylegan2-ffhq-1024", "--steps", "1"]) == 2
    assert "toyfaces-64 and toyobjects-64" in capsys.readouterr().err


def test_project_with_pti_writes_a_latent_with_its_tuned_weights_that_edit_renders_through(tmp_path, monkeypatch):
    import json

    from ganlab.data.toyfaces import render_faces
    from ganlab.invert.pti import PTIConfig
    from ganlab.models.loaders import load_checkpoint
    from ganlab.session import load_latent_file
    from ganlab.settings import assets_dir

    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    target = tmp_path / "face.png"
    Image.fromarray(render_faces(1, 79)[0][0]).save(target)
    out = tmp_path / "out"
    assert main(["project", "--model", "toyfaces-64", "--target", str(target), "--method", "pti", "--steps", "3",
                 "--out", str(out)]) == 0
    files = {p.name for p in (out / "face").iterdir()}
    assert "latent.npz" in files and "projected_w.npz" not in files  # the official layout cannot hold the weights
    info = json.loads((out / "face" / "metrics.json").read_text())
    assert info["steps_run"] == PTIConfig().pivot_steps + 3 and info["space"] == "w+"  # the pivot's, then 3 tuning
    model = load_checkpoint(assets_dir() / "models" / "toyfaces-64", name="toyfaces-64")
    assert load_latent_file(out / "face" / "latent.npz", model, "toyfaces-64").tuned is not None
    edited = tmp_path / "edited"
    assert main(["edit", "--model", "toyfaces-64", str(out / "face" / "latent.npz"), "--direction", "pc0=0",
                 "--out", str(edited)]) == 0
    original = np.asarray(Image.open(edited / "face" / "original.png"))
    assert np.array_equal(original, np.asarray(Image.open(out / "face" / "proj.png")))
    assert load_latent_file(edited / "face" / "latent.npz", model, "toyfaces-64").tuned is not None
