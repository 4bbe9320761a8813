"""The per-session latent store keeps latents tied to their model and refuses what does not fit."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from ganlab.errors import GanlabError, ShapeError
from ganlab.models.loaders import load_checkpoint
from ganlab.session import LatentStore, StoredLatent, latent_to_npz_bytes, load_latent_file, projected_w_bytes
from ganlab.settings import assets_dir


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(assets_dir() / "models" / "toyfaces-64", name="toyfaces-64")


def _ws(model, seed=0):
    with torch.no_grad():
        return model.mapping(model.sample_z(1, seed=seed))


def test_names_are_made_unique_and_rename_delete_work(model):
    store = LatentStore()
    a = store.add(StoredLatent("me", "toyfaces-64", "w+", _ws(model)), model)
    b = store.add(StoredLatent("me", "toyfaces-64", "w+", _ws(model, 1)), model)
    assert (a.name, b.name) == ("me", "me-2")
    store.rename("me-2", "smiling")
    assert store.names() == ["me", "smiling"]
    with pytest.raises(GanlabError, match="already exists"):
        store.rename("me", "smiling")
    store.delete("me")
    with pytest.raises(GanlabError, match="no stored latent"):
        store.get("me")


def test_store_is_capped_dropping_the_oldest(model):
    store = LatentStore(max_items=2)
    for i in range(3):
        store.add(StoredLatent(f"l{i}", "toyfaces-64", "w", _ws(model, i)[:, 0]), model)
    assert store.names() == ["l1", "l2"]


def test_wrong_shapes_are_refused_with_the_expected_shape(model):
    store = LatentStore()
    with pytest.raises(ShapeError, match=r"\[10, 128\]"):
        store.add(StoredLatent("bad", "toyfaces-64", "w+", torch.zeros(1, 9, 128)), model)
    with pytest.raises(ShapeError, match="NaN"):
        store.add(StoredLatent("nan", "toyfaces-64", "w", torch.full((1, 128), float("nan"))), model)


def test_npz_round_trip_keeps_latent_metadata_and_thumbnail(model, tmp_path):
    thumb = np.full((8, 8, 3), 200, np.uint8)
    item = StoredLatent("face", "toyfaces-64", "w+", _ws(model), thumbnail=thumb, metrics={"psnr": 30.5}, source="a.png")
    path = tmp_path / "face.npz"
    path.write_bytes(latent_to_npz_bytes(item))
    back = load_latent_file(path, model, "toyfaces-64")
    assert torch.equal(back.tensor, item.tensor) and back.space == "w+"
    assert back.metrics == {"psnr": 30.5} and np.array_equal(back.thumbnail, thumb)


def test_latent_from_another_model_is_refused(model, tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(latent_to_npz_bytes(StoredLatent("x", "stylegan2-ffhq-1024", "w+", _ws(model))))
    with pytest.raises(GanlabError, match="made for model 'stylegan2-ffhq-1024'"):
        load_latent_file(path, model, "toyfaces-64")


def test_official_projected_w_layout_is_written_and_read(model, tmp_path):
    ws = _ws(model)
    raw = projected_w_bytes(StoredLatent("p", "toyfaces-64", "w+", ws), model)
    with np.load(io.BytesIO(raw)) as data:
        assert data["w"].shape == (1, model.num_ws, model.w_dim)
    (tmp_path / "projected_w.npz").write_bytes(raw)
    back = load_latent_file(tmp_path / "projected_w.npz", model, "toyfaces-64")
    assert back.space == "w+" and torch.allclose(back.tensor, ws)
    torch.save({"w": ws}, tmp_path / "proj.pt")
    assert torch.allclose(load_latent_file(tmp_path / "proj.pt", model, "toyfaces-64").tensor, ws)


def test_official_file_with_wrong_shape_is_refused(model, tmp_path):
    np.savez(tmp_path / "projected_w.npz", w=np.zeros((1, 18, 512), np.float32))
    with pytest.raises(ShapeError, match=r"got \[1, 18, 512\]"):
        load_latent_file(tmp_path / "projected_w.npz", model, "toyfaces-64")


def test_non_npz_file_gives_a_readable_error(model, tmp_path):
    (tmp_path / "junk.npz").write_text("hello")
    with pytest.raises(GanlabError, match="not a readable .npz"):
        load_latent_file(tmp_path / "junk.npz", model, "toyfaces-64")


def test_session_registry_keeps_one_store_per_session_and_drops_idle_ones(monkeypatch):
    from ganlab import session as session_module
    from ganlab.session import SessionRegistry

    clock = [1000.0]
    monkeypatch.setattr(session_module.time, "time", lambda: clock[0])
    reg = SessionRegistry(idle_seconds=60, max_sessions=2)
    a = reg.get("a")
    assert reg.get("a") is a
    clock[0] += 30
    reg.get("b")
    clock[0] += 40
    reg.get("c")
    assert len(reg) == 2 and reg.get("b") is not None
    assert reg.get("a") is not a


def _npz(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def _meta(**fields):
    import json
    return np.array(json.dumps({"model_id": "toyfaces-64", "space": "w+", **fields}))


def test_a_small_file_that_unpacks_to_gigabytes_is_refused_before_unpacking(model, tmp_path):
    path = _npz(tmp_path / "bomb.npz", w=np.zeros((64, 1024, 1024), np.float32))  # 256 MB of zeros
    assert path.stat().st_size < 1 << 20
    with pytest.raises(GanlabError, match="unpacks to more than"):
        load_latent_file(path, model, "toyfaces-64")


def test_an_array_header_claiming_more_than_the_file_holds_is_refused(model, tmp_path):
    import zipfile
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros((1, 10, 128), np.float32))
    raw = buf.getvalue().replace(b"(1, 10, 128)", b"(1000, 10000, 128)", 1)
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as zf:
        zf.writestr("w.npy", raw)
    with pytest.raises(GanlabError, match="claims shape"):
        load_latent_file(tmp_path / "liar.npz", model, "toyfaces-64")


def test_pickled_object_arrays_are_refused(model, tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(GanlabError, match="dtype object"):
        load_latent_file(path, model, "toyfaces-64")


@pytest.mark.parametrize("arrays, message", [
    ({"meta": _meta(metrics={"psnr": "high"})}, "metrics"),
    ({"meta": _meta(name=["x"])}, "'name' must be text"),
    ({"meta": np.array("not json")}, "not valid JSON"),
    ({"meta": _meta(), "thumbnail": np.zeros((4, 4, 3), np.float32)}, "thumbnail must be uint8"),
    ({"meta": _meta(), "thumbnail": np.zeros((2000, 8, 3), np.uint8)}, "at most 1024x1024"),
    ({"meta": _meta(), "c": np.ones((3, 3), np.float32)}, "no classes"),
])
def test_uploaded_latent_metadata_is_checked_field_by_field(model, tmp_path, arrays, message):
    latent = _ws(model).numpy()
    path = _npz(tmp_path / "bad.npz", latent=latent, **arrays)
    with pytest.raises(GanlabError, match=message):
        load_latent_file(path, model, "toyfaces-64")


def test_a_class_vector_of_the_wrong_shape_is_refused_for_biggan(tmp_path):
    objects = load_checkpoint(assets_dir() / "models" / "toyobjects-64", name="toyobjects-64")
    z = objects.sample_z(1, seed=0).numpy()
    path = _npz(tmp_path / "obj.npz", latent=z, c=np.ones((3, 3), np.float32),
                meta=np.array('{"model_id": "toyobjects-64", "space": "z"}'))
    with pytest.raises(GanlabError, match=r"class vector must be finite floats \[1, 10\]"):
        load_latent_file(path, objects, "toyobjects-64")
    good = _npz(tmp_path / "good.npz", latent=z, c=np.eye(10, dtype=np.float32)[:1],
                meta=np.array('{"model_id": "toyobjects-64", "space": "z"}'))
    assert load_latent_file(good, objects, "toyobjects-64").c.shape == (1, 10)


def test_a_tiny_pt_file_claiming_a_huge_tensor_is_refused_before_any_conversion(model, tmp_path):
    path = tmp_path / "bomb.pt"
    torch.save({"w": torch.zeros(1, dtype=torch.float16).expand(1, 18, 2 ** 28)}, path)
    assert path.stat().st_size < 10_000
    with pytest.raises(ShapeError, match="must have shape"):
        load_latent_file(path, model, "toyfaces-64")
    path2 = tmp_path / "strided.pt"
    torch.save({"w": torch.zeros(1, dtype=torch.float16).expand(1, 10, 128)}, path2)  # right shape, no data
    with pytest.raises(ShapeError, match="plain contiguous"):
        load_latent_file(path2, model, "toyfaces-64")


def test_text_arrays_and_oversized_numbers_are_refused_with_a_message(model, tmp_path):
    text = _npz(tmp_path / "text.npz", w=np.array([["a"] * 128] * 10))
    with pytest.raises(GanlabError, match="not numbers"):
        load_latent_file(text, model, "toyfaces-64")
    import json
    huge = _npz(tmp_path / "huge.npz", latent=_ws(model).numpy(),
                meta=np.array(json.dumps({"model_id": "toyfaces-64", "space": "w+", "metrics": {"psnr": 10 ** 400}})))
    with pytest.raises(GanlabError, match="finite numbers"):
        load_latent_file(huge, model, "toyfaces-64")


def test_a_saved_store_comes_back_whole_after_a_restart(model, tmp_path):
    from ganlab.session import INDEX_DB

    folder = tmp_path / "session"
    folder.mkdir()
    store = LatentStore(folder=folder)
    a = store.add(StoredLatent("alpha", "toyfaces-64", "w+", _ws(model, 1), metrics={"psnr": 20.5},
                               thumbnail=np.full((8, 8, 3), 7, np.uint8)), model)
    store.add(StoredLatent("beta", "toyfaces-64", "w+", _ws(model, 2)), model)
    store.add(StoredLatent("gamma", "toyfaces-64", "w+", _ws(model, 3)), model)
    store.rename("alpha", "renamed")
    store.delete("beta")
    back = LatentStore.load(folder)
    assert back.names() == store.names() == ["gamma", "renamed"]
    got = back.get("renamed")
    assert torch.equal(got.tensor, a.tensor) and got.metrics == {"psnr": 20.5} and got.thumbnail[0, 0, 0] == 7
    assert len(list(folder.glob("*.npz"))) == 2 and (folder / INDEX_DB).is_file()
    back.add(StoredLatent("delta", "toyfaces-64", "w+", _ws(model, 4)), model)
    assert LatentStore.load(folder).names() == ["gamma", "renamed", "delta"]


def test_a_store_saved_with_the_json_index_is_read_and_moves_to_sqlite(model, tmp_path):
    import json

    from ganlab.session import INDEX_DB, LEGACY_INDEX, latent_to_npz_bytes

    folder = tmp_path / "old-session"
    folder.mkdir()
    item = StoredLatent("from before", "toyfaces-64", "w+", _ws(model, 5))
    (folder / ("a" * 32 + ".npz")).write_bytes(latent_to_npz_bytes(item))
    (folder / LEGACY_INDEX).write_text(json.dumps({"version": 1, "items": [{"name": "from before",
                                                                            "file": "a" * 32 + ".npz"}]}))
    store = LatentStore.load(folder)
    assert store.names() == ["from before"]
    store.add(StoredLatent("new", "toyfaces-64", "w+", _ws(model, 6)), model)
    assert (folder / INDEX_DB).is_file() and not (folder / LEGACY_INDEX).exists()
    assert LatentStore.load(folder).names() == ["from before", "new"]


def test_a_damaged_index_is_rebuilt_from_the_latent_files(model, tmp_path):
    import os

    from ganlab.session import INDEX_DB

    folder = tmp_path / "session"
    folder.mkdir()
    store = LatentStore(folder=folder)
    for i, name in enumerate(["first", "second"]):
        store.add(StoredLatent(name, "toyfaces-64", "w+", _ws(model, i)), model)
    for i, path in enumerate(sorted(folder.glob("*.npz"), key=lambda p: store._files["first"] != p.name)):
        os.utime(path, (1000 + i, 1000 + i))  # the order they were written in
    (folder / INDEX_DB).write_bytes(b"this is no database" * 10)
    back = LatentStore.load(folder)
    assert back.names() == ["first", "second"]
    back.add(StoredLatent("third", "toyfaces-64", "w+", _ws(model, 3)), model)  # writes a sound index anew
    assert LatentStore.load(folder).names() == ["first", "second", "third"]


def test_an_interrupted_move_from_the_json_index_keeps_the_json_listing(model, tmp_path):
    import json
    import sqlite3

    from ganlab.session import INDEX_DB, LEGACY_INDEX, latent_to_npz_bytes

    folder = tmp_path / "old-session"
    folder.mkdir()
    (folder / ("c" * 32 + ".npz")).write_bytes(latent_to_npz_bytes(StoredLatent("kept", "toyfaces-64", "w+",
                                                                                 _ws(model, 7))))
    (folder / LEGACY_INDEX).write_text(json.dumps({"version": 1, "items": [{"name": "kept", "file": "c" * 32 + ".npz"}]}))
    with sqlite3.connect(folder / INDEX_DB) as db:  # a table made, then the process died before its rows
        db.execute("CREATE TABLE latents (position INTEGER PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL)")
    assert LatentStore.load(folder).names() == ["kept"]


def test_only_browser_sessions_are_kept_on_disk_and_old_ones_are_swept(model, tmp_path):
    import os

    from ganlab.session import SessionRegistry, new_token, persistent_id

    sid = persistent_id(new_token())
    assert persistent_id("../../etc") is None and persistent_id("") is None
    first = SessionRegistry(root=tmp_path)
    first.get(sid).add(StoredLatent("kept", "toyfaces-64", "w+", _ws(model)), model)
    first.get("gradio-hash").add(StoredLatent("memory only", "toyfaces-64", "w+", _ws(model)), model)
    assert [p.name for p in tmp_path.iterdir()] == [sid.removeprefix("browser-")]
    restarted = SessionRegistry(root=tmp_path)
    assert restarted.get(sid).names() == ["kept"] and restarted.get("gradio-hash").names() == []
    old = tmp_path / sid.removeprefix("browser-")
    os.utime(old, (0, 0))
    SessionRegistry(root=tmp_path, keep_days=7).get("someone-else")
    assert not old.exists()


def _tuned(model, scale=0.01):
    from ganlab.models.tuned import TunedWeights, tunable_names

    params = dict(model.net.synthesis.named_parameters())
    gen = torch.Generator().manual_seed(1)
    return TunedWeights(model.name, {n: (scale * torch.randn(params[n].shape, generator=gen)).half()
                                     for n in tunable_names(model)})


def test_a_latent_with_tuned_weights_survives_download_and_upload(model, tmp_path):
    latent = StoredLatent("pti", "toyfaces-64", "w+", _ws(model), tuned=_tuned(model))
    path = tmp_path / "pti.npz"
    path.write_bytes(latent_to_npz_bytes(latent))
    back = load_latent_file(path, model, "toyfaces-64")
    assert back.tuned is not None and back.tuned.deltas.keys() == latent.tuned.deltas.keys()
    assert all(torch.equal(back.tuned.deltas[n], d) for n, d in latent.tuned.deltas.items())
    with pytest.raises(GanlabError, match="projected_w.npz layout cannot hold"):
        projected_w_bytes(latent, model)


def test_a_tampered_tuned_blob_in_an_upload_is_refused(model, tmp_path):
    latent = StoredLatent("pti", "toyfaces-64", "w+", _ws(model), tuned=_tuned(model))
    arrays = dict(np.load(io.BytesIO(latent_to_npz_bytes(latent))))
    blob = bytearray(arrays["tuned"].tobytes())
    blob[blob.index(b"b64.conv1.bias")] = ord("x")  # a name the model does not have
    arrays["tuned"] = np.frombuffer(bytes(blob), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GanlabError, match="not a tunable layer"):
        load_latent_file(tmp_path / "bad.npz", model, "toyfaces-64")
    arrays["tuned"] = np.zeros((2, 2), dtype=np.float32)
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(GanlabError, match="byte string"):
        load_latent_file(tmp_path / "bad2.npz", model, "toyfaces-64")


def test_tuned_weights_count_in_the_session_memory_quota(model):
    tuned = _tuned(model)
    latent_bytes = StoredLatent("x", "toyfaces-64", "w+", _ws(model), tuned=tuned).nbytes
    assert latent_bytes > tuned.nbytes > 0
    store = LatentStore(max_bytes=int(2.5 * latent_bytes))
    for i in range(3):
        store.add(StoredLatent(f"pti{i}", "toyfaces-64", "w+", _ws(model, i), tuned=tuned), model)
    assert store.names() == ["pti1", "pti2"] and store.nbytes() <= store.max_bytes
    with pytest.raises(GanlabError, match="a session keeps at most"):
        LatentStore(max_bytes=latent_bytes - 1).add(StoredLatent("big", "toyfaces-64", "w+", _ws(model), tuned=tuned))


def test_a_restored_session_keeps_its_tuned_weights(model, tmp_path):
    store = LatentStore(folder=tmp_path)
    store.add(StoredLatent("pti", "toyfaces-64", "w+", _ws(model), tuned=_tuned(model)), model)
    back = LatentStore.load(tmp_path).get("pti")
    assert back.tuned is not None and back.tuned.check(model) is back.tuned
