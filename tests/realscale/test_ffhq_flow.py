"""The FFHQ-256 generator at full size, arriving as users' files arrive: download with progress -> cache ->
safe load -> align a real photo -> project -> edit along GANSpace and SeFa directions computed for it and
kept beside its weights -> interpolate -> paste back. The same steps as on the bundled model."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import ganlab
from ganlab.cli import main
from ganlab.edit.apply import layer_indices
from ganlab.models.download import url_cache_path
from ganlab.models.folder import helpers_folder_for
from tests.realscale.conftest import FFHQ_256, FFHQ_256_PT

PHOTO = "test_images__kate_siegel__1.jpg"
PKL = "ffhq-res256-mirror-paper256-noaug.pkl"


def test_the_cli_flow_downloads_once_then_works_as_on_the_bundled_model(server, online, testdata_dir, tmp_path,
                                                                        capsys):
    photo = testdata_dir / "faces" / "raw" / PHOTO
    assert main(["align", str(photo), "--out", str(tmp_path / "aligned"), "--size", "256"]) == 0
    face = tmp_path / "aligned" / photo.stem / "face_0.png"
    assert main(["project", "--model", FFHQ_256, "--target", str(face), "--method", "projector", "--steps", "3",
                 "--out", str(tmp_path / "proj"), "--device", "cpu"]) == 0
    said = capsys.readouterr()
    assert f"downloading {PKL}" in said.err and "296M/296M" in said.err  # the bar, in MB as the model list says
    assert "face_0: PSNR" in said.out
    cached = url_cache_path(server.url(PKL))
    assert cached.is_file() and cached.with_name(PKL + ".sha256").is_file()  # verified once, remembered
    result = np.asarray(Image.open(tmp_path / "proj" / "face_0" / "proj.png"))
    assert result.shape == (256, 256, 3)

    assert main(["edit", str(tmp_path / "proj"), "--model", FFHQ_256, "--direction", "pc1=2",
                 "--direction", "sefa0=-2", "--layers", "coarse", "--out", str(tmp_path / "edit")]) == 0
    helpers = helpers_folder_for(cached)
    assert (helpers / "ganspace.npz").is_file() and (helpers / "sefa.npz").is_file()
    edited = tmp_path / "edit" / "face_0"
    before, after = (np.asarray(Image.open(edited / f)) for f in ("original.png", "edited.png"))
    assert before.shape == after.shape == (256, 256, 3) and not np.array_equal(before, after)

    assert main(["sample", "--model", FFHQ_256, "--seeds", "5", "--latents", "--out", str(tmp_path / "s"),
                 "--device", "cpu"]) == 0
    assert main(["interpolate", str(edited / "latent.npz"), str(tmp_path / "s"), "--model", FFHQ_256,
                 "--frames", "3", "--out", str(tmp_path / "frames")]) == 0
    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) == 3 and Image.open(frames[0]).size == (256, 256)
    assert [name for name, _ in server.faults.requests] == [PKL]  # one download: every later step used the cache
    assert "downloading" not in capsys.readouterr().err


def test_the_library_flow_pastes_the_edit_back_into_the_photo(server, warm, testdata_dir):
    photo = testdata_dir / "faces" / "raw" / PHOTO
    lab = ganlab.load(FFHQ_256, device="cpu")
    assert lab.resolution == 256 and lab.model.num_ws == 14
    assert "pc1" in lab.directions and "sefa0" in lab.directions
    face = ganlab.align_faces(photo, size=256)[0]
    inv = lab.invert(face, method="projector", steps=2)
    assert inv.latent.origin is not None and inv.latent.tensor.shape == (1, 14, 512)
    edited = lab.edit(inv.latent, {"pc2": 3.0}, layers="middle")
    pasted = face.paste_back(lab.render(edited))
    original = Image.open(photo).convert("RGB")
    assert pasted.size == original.size
    changed = np.abs(np.asarray(pasted, dtype=np.int16) - np.asarray(original, dtype=np.int16)).max(axis=2) > 0
    assert 0.01 < changed.mean() < 0.9  # the face region changed, the rest of the photo did not


def test_the_rosinality_checkpoint_is_the_same_generator(server, warm):
    official = ganlab.load(FFHQ_256, device="cpu")
    rosinality = ganlab.load(FFHQ_256_PT, device="cpu")
    latent = official.sample(11, truncation=0.7)[0]
    with torch.no_grad():
        a = official.model.synthesize(latent.tensor, space=latent.space)
        b = rosinality.model.synthesize(latent.tensor, space=latent.space)
    assert a.shape == (1, 3, 256, 256)
    assert (a - b).abs().max() < 1e-4


def test_an_edit_of_a_preset_moves_exactly_its_layers_of_the_real_depth(server, warm):
    lab = ganlab.load(FFHQ_256, device="cpu")
    latent = lab.sample(3)[0]
    start = lab.model.to_ws(latent.tensor, latent.space)
    for preset in ("coarse", "middle", "fine"):
        moved = lab.edit(latent, {"pc0": 3.0}, layers=preset).tensor - start
        touched = (moved.abs().sum(-1) > 0)[0].nonzero().flatten().tolist()
        assert touched == layer_indices(preset, 14)
