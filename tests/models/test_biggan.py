"""BigGAN loading and sampling on tiny randomly initialised BigGAN-deep nets saved like the releases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig, truncated_noise_sample

from ganlab.errors import BadCheckpoint, GanlabError, ShapeError, WeightsUnavailable
from ganlab.models.base import GanModel
from ganlab.models.biggan import BigGANModel, find_class, imagenet_class_names, load_biggan_deep, load_biggan_folder
from ganlab.models.download import url_cache_path
from tests.realscale.standins import random_biggan, save_release

# 4 px doubled four times: 64 px; the attention block sits at 32 px with 32 channels.
LAYERS_64 = [[False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4], [False, 4, 4],
             [True, 4, 2], [False, 2, 2], [True, 2, 1]]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANLAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def tiny_config(**overrides: object) -> BigGANConfig:
    fields = dict(output_dim=64, z_dim=16, class_embed_dim=16, channel_width=16, num_classes=10,
                  layers=LAYERS_64, attention_layer_position=6)
    fields.update(overrides)
    return BigGANConfig(**fields)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[BigGANModel, BigGAN]:
    """The loaded model and the net it was saved from (in eval mode, for reference outputs)."""
    net = random_biggan(tiny_config())
    folder = save_release(tmp_path / "tiny", net.config, net.state_dict())
    return load_biggan_folder(folder, "tiny"), net.eval()


def test_loads_strictly_and_reproduces_the_saved_net(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, source = tiny
    z = model.sample_z(3, seed=1, truncation=0.7)
    c = model.class_vector(2, n=3)
    img = model.synthesize(z, c=c, truncation=0.7)
    assert img.shape == (3, 3, 64, 64) and img.dtype == torch.float32
    assert img.min() >= -1 and img.max() <= 1 and img.std() > 0
    with torch.no_grad():
        assert torch.equal(img.detach(), source(z, c, 0.7))


def test_implements_the_gan_model_interface(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, _ = tiny
    assert isinstance(model, GanModel)
    assert (model.kind, model.spaces, model.resolution) == ("biggan", ("z",), 64)
    assert (model.z_dim, model.num_classes, model.name) == (16, 10, "tiny")
    assert model.class_names[3] == "class 3" and model.device == torch.device("cpu")
    assert torch.equal(model.mean_latent("z"), torch.zeros(1, 16))
    assert not model.net.training


def test_sample_z_is_seeded_truncated_normal(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, _ = tiny
    z = model.sample_z(64, seed=5, truncation=0.5)
    assert z.shape == (64, 16) and z.abs().max() <= 1.0
    assert torch.equal(z, model.sample_z(64, seed=5, truncation=0.5))
    assert not torch.equal(z, model.sample_z(64, seed=6, truncation=0.5))
    reference = truncated_noise_sample(batch_size=64, dim_z=16, truncation=0.5, seed=5)
    assert torch.equal(z, torch.from_numpy(reference))


def test_synthesis_is_deterministic_and_differentiable(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, _ = tiny
    z = model.sample_z(2, seed=3).requires_grad_(True)
    c = model.class_vector("class 4")
    img = model.synthesize(z, c=c)
    assert torch.equal(img, model.synthesize(z, c=c))
    img.square().mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_class_vectors(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, _ = tiny
    one_hot = model.class_vector(7, n=2)
    assert one_hot.shape == (2, 10) and torch.equal(one_hot[:, 7], torch.ones(2)) and one_hot.sum() == 2
    mix = model.class_vector(["class 1", 3])
    assert mix[0, 1] == mix[0, 3] == 0.5 and mix.sum() == 1
    z = model.sample_z(2, seed=0)
    per_row = model.synthesize(z, c=model.class_vector(5, n=2))
    assert torch.equal(model.synthesize(z, c=model.class_vector(5)), per_row)
    with pytest.raises(GanlabError, match="unknown class"):
        model.class_vector("class 99")


def test_bad_inputs_raise_clear_errors(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, _ = tiny
    z = model.sample_z(2, seed=0)
    c = model.class_vector(0, n=2)
    with pytest.raises(ShapeError, match=r"z has shape \[2, 15\]"):
        model.synthesize(z[:, :15], c=c)
    with pytest.raises(ShapeError, match=r"c has shape \[2, 9\]"):
        model.synthesize(z, c=c[:, :9])
    with pytest.raises(ShapeError, match="3 rows"):
        model.synthesize(z, c=model.class_vector(0, n=3))
    with pytest.raises(GanlabError, match="class vector"):
        model.synthesize(z)
    with pytest.raises(GanlabError, match="only the 'z'"):
        model.synthesize(z, space="w", c=c)
    for truncation in (0.0, 1.5):
        with pytest.raises(GanlabError, match="truncation"):
            model.synthesize(z, c=c, truncation=truncation)


def test_to_changes_dtype(tiny: tuple[BigGANModel, BigGAN]) -> None:
    model, _ = tiny
    assert model.to(dtype=torch.float64) is model
    img = model.synthesize(model.sample_z(1, seed=0), c=model.class_vector(1))
    assert img.dtype == torch.float64 and not model.net.training


def test_missing_and_unexpected_keys_are_bad_checkpoints(tmp_path: Path) -> None:
    net = random_biggan(tiny_config())
    missing = net.state_dict()
    del missing["generator.gen_z.weight_orig"]
    save_release(tmp_path / "missing", net.config, missing)
    with pytest.raises(BadCheckpoint, match=r"missing keys: generator\.gen_z\.weight_orig"):
        load_biggan_folder(tmp_path / "missing")
    extra = net.state_dict()
    extra["generator.extra_layer.weight"] = torch.zeros(3)
    save_release(tmp_path / "extra", net.config, extra)
    with pytest.raises(BadCheckpoint, match=r"unexpected keys: generator\.extra_layer\.weight"):
        load_biggan_folder(tmp_path / "extra")


def test_weights_for_another_config_are_bad_checkpoints(tmp_path: Path) -> None:
    net = random_biggan(tiny_config(num_classes=12))
    save_release(tmp_path / "other", tiny_config(), net.state_dict())
    with pytest.raises(BadCheckpoint, match="does not fit"):
        load_biggan_folder(tmp_path / "other")


def test_unreadable_files_are_bad_checkpoints(tmp_path: Path) -> None:
    folder = save_release(tmp_path / "junk", tiny_config(), {})
    (folder / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(BadCheckpoint, match="not a PyTorch file"):
        load_biggan_folder(folder)
    torch.save({"config": tiny_config().to_dict()}, folder / "pytorch_model.bin")
    with pytest.raises(BadCheckpoint, match="flat state dict"):
        load_biggan_folder(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(BadCheckpoint, match="JSON"):
        load_biggan_folder(folder)


def test_output_dim_must_match_the_layers(tmp_path: Path) -> None:
    net = random_biggan(tiny_config())
    save_release(tmp_path / "m", tiny_config(output_dim=128), net.state_dict())
    with pytest.raises(BadCheckpoint, match="output_dim is 128 but its layers make 64 px"):
        load_biggan_folder(tmp_path / "m")


def test_safetensors_release_loads(tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    net = random_biggan(tiny_config())
    folder = tmp_path / "st"
    folder.mkdir()
    (folder / "config.json").write_text(net.config.to_json_string())
    safetensors_torch.save_file(net.state_dict(), str(folder / "model.safetensors"))
    model = load_biggan_folder(folder)
    z, c = model.sample_z(1, seed=0), model.class_vector(0)
    with torch.no_grad():
        assert torch.equal(model.synthesize(z, c=c), net.eval()(z, c, 1.0))


def test_incomplete_folder_is_weights_unavailable(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsUnavailable, match="pytorch_model.bin"):
        load_biggan_folder(tmp_path / "empty")


S3_URL = "https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-{resolution}-{name}"  # the originals


def test_the_model_list_gives_the_original_s3_files_after_the_hub() -> None:
    from ganlab.models.registry import Registry

    for res in (128, 256, 512):
        files = Registry().get(f"biggan-deep-{res}").files
        assert [sources[1] for sources in files] == [("url", S3_URL.format(resolution=res, name=name))
                                                     for name in ("config.json", "pytorch_model.bin")]


def test_biggan_deep_offline_says_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="offline") as info:
        load_biggan_deep(256)
    message = str(info.value)
    assert "hub osanseviero/BigGAN-deep-256/config.json" in message
    assert S3_URL.format(resolution=256, name="config.json") in message
    assert str(url_cache_path(S3_URL.format(resolution=256, name="pytorch_model.bin"))) in message
    with pytest.raises(GanlabError, match="not 100"):
        load_biggan_deep(100)


def test_biggan_deep_uses_files_placed_where_the_hint_says(monkeypatch: pytest.MonkeyPatch) -> None:
    config = tiny_config(output_dim=128, channel_width=8, z_dim=128, class_embed_dim=128, num_classes=1000,
                         layers=BigGANConfig().layers, attention_layer_position=8)
    net = random_biggan(config, power_iterations=2)
    config_path = url_cache_path(S3_URL.format(resolution=128, name="config.json"))
    weights_path = url_cache_path(S3_URL.format(resolution=128, name="pytorch_model.bin"))
    for path in (config_path, weights_path):
        path.parent.mkdir(parents=True)
    config_path.write_text(config.to_json_string())
    torch.save(net.state_dict(), weights_path)
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    model = load_biggan_deep(128)
    assert (model.name, model.resolution, model.class_names[0]) == ("biggan-deep-128", 128, "tench")
    img = model.synthesize(model.sample_z(1, seed=0, truncation=0.4), c=model.class_vector("goldfish"),
                           truncation=0.4)
    assert img.shape == (1, 3, 128, 128)


def test_imagenet_class_names() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[0] == "tench" and names[999] == "toilet tissue"


def test_find_class_is_forgiving() -> None:
    assert find_class("golden retriever") == 207
    assert find_class("  GOLDEN Retriever ") == 207
    assert find_class("Chesapeake") == 209
    assert find_class("crane") == 517 and find_class("crane bird") == 134
    assert find_class(5) == find_class("5") == 5


def test_find_class_explains_failures() -> None:
    with pytest.raises(GanlabError, match="did you mean 'golden retriever'"):
        find_class("golden retreiver")
    with pytest.raises(GanlabError, match="ambiguous.*'Labrador retriever' \\(208\\)"):
        find_class("retriever")
    with pytest.raises(GanlabError, match="out of range"):
        find_class(1000)
    with pytest.raises(GanlabError, match="unknown class 'qwxzv'$"):
        find_class("qwxzv")


def test_a_biggan_entry_of_the_models_file_loads_its_two_files_from_their_sources(tmp_path, monkeypatch):
    import json

    from ganlab.models.registry import Registry, load_model

    folder = save_release(tmp_path / "mirror", tiny_config(), random_biggan(tiny_config()).state_dict())
    entry = {"id": "biggan-deep-128", "resolution": 64,
             "files": [{"name": n, "sources": [{"url": str(folder / n)}]} for n in ("config.json", "pytorch_model.bin")]}
    mine = tmp_path / "models.json"
    mine.write_text(json.dumps({"format": "ganlab-models", "models": [entry]}))
    monkeypatch.setenv("GANLAB_MODELS", str(mine))
    model = load_model(Registry(), "biggan-deep-128")
    assert model.kind == "biggan" and model.resolution == 64 and model.num_classes == 10
    assert model.folder == folder / "pytorch_model.ganlab"  # its helpers' folder, beside the weights
