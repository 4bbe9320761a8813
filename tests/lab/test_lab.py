"""The front door on the bundled models: every Lab method through the real code path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganlab
from ganlab.edit.directions import Direction
from ganlab.errors import GanlabError, ShapeError
from ganlab.invert.projector import ProjectionStep
from ganlab.session import StoredLatent


@pytest.fixture(scope="module")
def lab():
    return ganlab.load("toyfaces-64", device="cpu")


@pytest.fixture(scope="module")
def objects():
    return ganlab.load("toyobjects-64", device="cpu")


@pytest.fixture(scope="module")
def face(testdata_dir):
    return ganlab.align_faces(testdata_dir / "faces" / "raw" / "test_images__paul_rudd__1.jpg", size=256)[0]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


def test_load_by_id_gives_the_model_and_its_caveat(lab):
    assert (lab.name, lab.kind, lab.resolution) == ("toyfaces-64", "stylegan2", 64)
    assert "cartoon" in lab.caveat
    assert "balanced" in lab.methods


def test_load_of_an_unknown_id_or_missing_file_says_so(tmp_path):
    with pytest.raises(GanlabError, match="no file or folder"):
        ganlab.load(str(tmp_path / "nothing.pkl"))


def test_sample_and_render_are_deterministic(lab):
    a, b = lab.sample([3, 4])
    assert a.space == "w+" and a.tensor.shape == (1, lab.model.num_ws, lab.model.w_dim)
    again = lab.render(lab.sample(3)[0])
    first = lab.render(a)
    assert isinstance(first, Image.Image) and first.size == (64, 64)
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(lab.render(b)))
    assert len(lab.render([a, b])) == 2


def test_invert_a_face_reports_progress_and_keeps_its_origin(lab, face):
    records = []
    inv = lab.invert(face, method="projector", steps=12, preview_every=4, callback=records.append)
    assert isinstance(inv, ganlab.Inversion)
    assert [r.step for r in records] == list(range(1, 13))
    assert all(isinstance(r, ProjectionStep) for r in records)
    assert inv.origin is face and inv.latent.origin is face.origin
    assert inv.latent.model_id == "toyfaces-64" and inv.image.size == (64, 64)
    assert inv.metrics["psnr"] > 10 and inv.steps_run == 12
    pasted = face.paste_back(inv.image)
    assert pasted.size == face.photo.size
    assert not np.array_equal(np.asarray(pasted), np.asarray(face.photo.convert("RGB")))


def test_invert_steps_ends_with_a_list_for_a_list_of_targets(lab, face):
    img = torch.zeros(1, 3, 64, 64)
    last = list(lab.invert_steps([face, img], method="projector", steps=3))[-1]
    assert isinstance(last, list) and len(last) == 2
    assert last[0].origin is face and last[1].origin is None


def test_invert_refuses_a_tensor_of_the_wrong_size(lab):
    with pytest.raises(ShapeError, match=r"\[1, 3, 64, 64\]"):
        lab.invert(torch.zeros(1, 3, 32, 32), method="fast")


def test_an_encoder_method_uses_the_model_folders_encoder(lab, face):
    fast = lab.invert(face, method="fast")
    assert fast.steps_run == 0 and fast.metrics["psnr"] > 10


def test_directions_list_learned_then_ganspace_then_sefa(lab):
    names = list(lab.directions)
    assert names[0] == "smile" and "pc0" in names and "sefa0" in names
    assert names.index("hair_grey") < names.index("pc0") < names.index("sefa0")


def test_edit_moves_only_the_chosen_layers_and_changes_the_picture(lab):
    base = lab.sample(5)[0]
    edited = lab.edit(base, {"smile": 3.0}, layers="middle")
    assert edited.space == "w+" and edited.model_id == lab.name
    moved = (edited.tensor - base.tensor).abs().sum(-1)[0]
    assert (moved > 0).tolist() == [lab.model.num_ws * 0.3 - 0.5 < i < lab.model.num_ws * 0.6 - 0.5
                                    for i in range(lab.model.num_ws)]
    assert not np.array_equal(np.asarray(lab.render(base)), np.asarray(lab.render(edited)))
    assert torch.equal(lab.edit(base, {}).tensor, base.tensor)


def test_edit_refuses_unknown_names_and_other_models_directions(lab):
    base = lab.sample(5)[0]
    with pytest.raises(GanlabError, match="no direction named 'grin'"):
        lab.edit(base, {"grin": 1.0})
    foreign = Direction("x", np.ones(lab.model.w_dim), "another-model")
    with pytest.raises(GanlabError, match="made for 'another-model'"):
        lab.edit(base, {foreign: 1.0})


def test_latents_of_another_model_are_refused(lab, objects):
    with pytest.raises(GanlabError, match="latent of 'toyobjects-64'"):
        lab.render(objects.sample(0, class_name=1)[0])


def test_learn_direction_is_offered_first_and_conditioned_on_kept_ones(lab):
    group_a = lab.sample(range(0, 12))
    group_b = lab.sample(range(100, 112))
    learned = lab.learn_direction(group_a, group_b, "mine", keep=["smile"])
    try:
        assert lab.directions["mine"] is learned and list(lab.directions)[0] == "mine"
        assert learned.metadata["conditioned_on"] == ["smile"]
        smile = lab.directions["smile"]
        assert abs(float(np.dot(learned.vector, smile.normal))) < 1e-4
        assert learned.accuracy is not None
        alone = lab.learn_direction(group_a, group_b, "loose", remember=False)
        assert "loose" not in lab.directions and alone.metadata.get("conditioned_on") is None
    finally:
        lab._learned.clear()


def test_interpolate_renders_frames_at_the_asked_size_and_saves(lab, tmp_path):
    a, b = lab.sample([1, 2])
    progress = []
    video = lab.interpolate([a, b], frames=6, size=128, fps=12, callback=progress.append)
    assert video.frames.shape == (6, 128, 128, 3) and video.fps == 12
    assert [r.done for r in progress] == [6]
    assert np.array_equal(video.frames[0][::2, ::2], np.asarray(lab.render(a)))
    assert video.save(tmp_path / "m.mp4").stat().st_size > 0
    assert video.save(tmp_path / "m.gif").stat().st_size > 0
    assert len(list(video.save(tmp_path / "frames").glob("frame_*.png"))) == 6
    assert video.strip(3).size == (3 * 128, 128)
    with pytest.raises(GanlabError, match=".mp4, .gif"):
        video.save(tmp_path / "m.avi")


def test_save_and_load_round_trip_the_model_folder(lab, face, tmp_path):
    a, b = lab.sample(range(0, 10)), lab.sample(range(50, 60))
    lab.learn_direction(a, b, "kept")
    try:
        folder = lab.save(tmp_path / "mine")
    finally:
        lab._learned.clear()
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "directions.npz", "encoder", "landscape",
                                                        "model.safetensors"]
    again = ganlab.load(folder, device="cpu")
    assert list(again.directions)[0] == "kept" and "smile" in again.directions
    sample_then = np.asarray(lab.render(lab.sample(9)[0]))
    assert np.array_equal(np.asarray(again.render(again.sample(9)[0])), sample_then)
    fast_here, fast_there = lab.invert(face, method="fast"), again.invert(face, method="fast")
    assert np.array_equal(np.asarray(fast_here.image), np.asarray(fast_there.image))


def test_a_biggan_lab_inverts_and_augments_but_does_not_edit(objects, tmp_path):
    sample = objects.sample(0, class_name=2)[0]
    target = torch.from_numpy(np.array(objects.render(sample))).permute(2, 0, 1)[None].float() / 127.5 - 1
    inv = objects.invert(target, steps=10, preview_every=0)
    assert inv.latent.space == "z" and inv.latent.c is not None and inv.latent.name
    gallery = objects.augment(inv, transforms=["zoom"], magnitudes={"zoom": [0.8, 1.25]}, samples=2)
    assert [(a.transform, round(a.magnitude, 4)) for a in gallery.augmentations] == \
        [("zoom", 0.8), ("zoom", 0.8), ("zoom", 1.25), ("zoom", 1.25)]
    assert {a.method for a in gallery.augmentations} == {"walk"}  # the walks in the model's folder
    assert gallery.save_grid(tmp_path / "g.png").is_file() and gallery.save_zip(tmp_path / "g.zip").is_file()
    with pytest.raises(GanlabError, match="no edit directions"):
        objects.edit(inv, {})
    assert objects.directions == {}


def test_a_stylegan_lab_says_augmentation_is_for_biggan(lab):
    with pytest.raises(GanlabError, match="BigGAN"):
        lab.augment(lab.sample(1)[0])


def test_render_refuses_something_that_is_not_a_latent(lab):
    with pytest.raises(GanlabError, match="expected a latent"):
        lab.render("seed 1")
    with pytest.raises(ShapeError):
        lab.render(StoredLatent("bad", lab.name, "w+", torch.zeros(1, 3, 7)))


def test_ganspace_and_sefa_are_computed_once_per_model_folder_but_never_written_into_bundled_ones(
        lab, tmp_path, monkeypatch):
    from ganlab.lab import core
    from ganlab.settings import assets_dir

    folder = lab.save(tmp_path / "mine")
    first = ganlab.load(folder, device="cpu")
    computed = first.directions_of("sefa")
    assert (folder / "sefa.npz").is_file() and not (folder / "ganspace.npz").exists()  # only what was asked for
    monkeypatch.setattr(core, "sefa", lambda *a, **k: pytest.fail("SeFa computed again"))
    again = ganlab.load(folder, device="cpu").directions_of("sefa")
    assert [d.name for d in again] == [d.name for d in computed]
    assert all(np.allclose(a.vector, b.vector) for a, b in zip(again, computed))
    bundled = assets_dir() / "models" / "toyfaces-64"
    assert lab.model.folder == bundled and not (bundled / "sefa.npz").exists()


def test_directions_kept_for_other_weights_are_computed_again(lab, tmp_path):
    """A checkpoint replaced under the same name must not inherit the old one's GANSpace/SeFa axes."""
    folder = lab.save(tmp_path / "mine")
    old = ganlab.load(folder, device="cpu").directions_of("sefa")
    changed = ganlab.load(folder, device="cpu")
    with torch.no_grad():
        for name, param in changed.model.net.named_parameters():
            if name.endswith("affine.weight"):
                param.mul_(torch.linspace(0.5, 1.5, param.shape[1]))
    new = changed.directions_of("sefa")
    assert not np.allclose(new[0].vector, old[0].vector)
    assert new[0].metadata["weights"] != old[0].metadata["weights"]
    assert ganlab.load(folder, device="cpu").directions_of("sefa")[0].metadata["weights"] == old[0].metadata["weights"]


def test_a_direction_is_learned_from_two_groups_of_photos(lab, tmp_path):
    pos = [lab.render(lab.edit(s, {"smile": 3.0})) for s in lab.sample(range(30, 36))]
    neg = [lab.render(lab.edit(s, {"smile": -3.0})) for s in lab.sample(range(40, 46))]
    files = []
    for i, picture in enumerate(pos):
        picture.save(tmp_path / f"pos{i}.png")
        files.append(tmp_path / f"pos{i}.png")
    seen = []
    direction = lab.learn_direction(files, neg, "photo smile", invert_method="fast", remember=False,
                                    callback=seen.append)
    assert direction.name == "photo smile" and direction.accuracy >= 0.75 and seen
    smile = lab.directions["smile"]
    cosine = float(np.dot(direction.vector, smile.vector) / np.linalg.norm(direction.vector) / np.linalg.norm(smile.vector))
    assert cosine > 0.7  # photos of smiling and frowning faces give back the smile direction


def test_variants_follow_the_model_family(lab, objects):
    """The dataset variations of one image: edits along directions for StyleGAN2, transformations for
    BigGAN; a name the family does not know is refused before any image is made."""
    latent = lab.sample(3)[0]
    faces = lab.variants(latent)
    assert [(v.name, v.magnitude) for v in faces] == [(n, m) for n in list(lab.directions)[:3] for m in (-2.0, 2.0)]
    assert all(v.image.shape == (64, 64, 3) and v.method == "direction" for v in faces)
    assert not np.array_equal(faces[0].image, faces[1].image)
    with pytest.raises(GanlabError, match="no direction named zoom"):
        lab.check_variants(["zoom"])
    star = objects.sample(2, class_name="star")[0]
    moved = objects.variants(star, ["zoom"], [1.3], per_image_steps=2)
    assert [v.name for v in moved] == ["zoom"] and moved[0].magnitude == pytest.approx(1.3)
    assert moved[0].method in ("walk", "per-image") and moved[0].image.shape == (64, 64, 3)
    with pytest.raises(GanlabError, match="unknown transformation 'smile'"):
        objects.check_variants(["smile"])
    with pytest.raises(GanlabError, match="unknown class 'dragon'"):
        objects.check_variants([], "dragon")
