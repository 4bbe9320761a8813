"""The restricted reader for NVIDIA StyleGAN2-ADA snapshots, against the golden pickles in ../shared/golden."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import pickletools
import struct
import sys
from pathlib import Path

import pytest
import torch

from ganlab.errors import BadCheckpoint
from ganlab.models.nvidia_pkl import NetworkRecord, load_generator_record, read_snapshot

FIXTURES = ["tiny_snapshot.pkl", "tiny_snapshot_ada.pkl", "tiny_snapshot_np2.pkl"]
PLACEHOLDER_SOURCE = "# source omitted from this test fixture"


@pytest.fixture(scope="module")
def ada_dir(golden_dir: Path) -> Path:
    return golden_dir / "stylegan2_ada"


def _reference(ada_dir: Path, name: str) -> dict[str, torch.Tensor]:
    return torch.load(ada_dir / name, weights_only=True)


def _assert_same_state(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype and torch.equal(actual[name], tensor), name


def _unicode(text: str) -> bytes:
    raw = text.encode("utf-8")
    return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


def _put(index: int) -> bytes:
    return pickle.BINPUT + bytes([index]) if index < 256 else pickle.LONG_BINPUT + struct.pack("<I", index)


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _transcode(data: bytes, protocol: int, replace: dict[str, str] | None = None) -> bytes:
    """Re-emit a protocol-4 pickle at `protocol`, opcode by opcode, without ever unpickling it.

    FRAMEs are dropped, MEMOIZE becomes BINPUT with the same memo index, strings become BINUNICODE
    (swapped through `replace`). Below protocol 4, STACK_GLOBAL becomes POP POP GLOBAL and EMPTY_SET
    a `set([])` call; below 3, bytes become `_codecs.encode(text, 'latin1')`, as Python writes them.
    """
    replace = replace or {}
    ops = list(pickletools.genops(data))
    ends = [pos for _, _, pos in ops[1:]] + [len(data)]
    out = bytearray()
    memo_strings: dict[int, str] = {}
    recent: list[str | None] = [None, None]
    memo_count = 0
    for (op, arg, pos), end in zip(ops, ends):
        if op.name == "MEMOIZE":
            if recent[-1] is not None:
                memo_strings[memo_count] = recent[-1]
            out += _put(memo_count)
            memo_count += 1
            continue
        pushed = None
        if op.name == "PROTO":
            out += pickle.PROTO + bytes([protocol])
        elif op.name == "FRAME":
            pass
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE"):
            pushed = replace.get(arg, arg)
            out += _unicode(pushed)
        elif op.name in ("BINGET", "LONG_BINGET"):
            pushed = memo_strings.get(arg)
            out += data[pos:end]
        elif op.name == "STACK_GLOBAL" and protocol < 4:
            module, name = recent
            assert module is not None and name is not None
            out += pickle.POP + pickle.POP + _global(module, name)
        elif op.name == "EMPTY_SET" and protocol < 4:
            out += _global("builtins" if protocol == 3 else "__builtin__", "set")
            out += pickle.EMPTY_LIST + pickle.TUPLE1 + pickle.REDUCE
        elif op.name in ("BINBYTES", "SHORT_BINBYTES") and protocol < 3:
            out += _global("_codecs", "encode") + _unicode(arg.decode("latin1")) + _unicode("latin1")
            out += pickle.TUPLE2 + pickle.REDUCE
        else:
            out += data[pos:end]
        recent = [recent[-1], pushed]
    return bytes(out)


def _opcode_names(data: bytes) -> set[str]:
    return {op.name for op, _, _ in pickletools.genops(data)}


class _RunsShell:
    """Pickles as a call to os.system, the classic malicious pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


class _RunsExec:
    """Pickles as a call to exec on Python source."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


class _StorageBlobRunsShell:
    """Pickles as the allowed `_load_from_bytes`, but the blob inside is a malicious pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return torch.storage._load_from_bytes, (pickle.dumps(_RunsShell(self.marker), protocol=2),)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_each_fixture_G_ema_and_G_equal_the_reference_state_dict(ada_dir: Path, fixture: str):
    snapshot = read_snapshot(ada_dir / fixture)
    expected = _reference(ada_dir, "tiny_state_dict.pt")
    _assert_same_state(snapshot["G_ema"].state_dict, expected)
    _assert_same_state(snapshot["G"].state_dict, expected)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_each_fixture_D_equals_the_reference_state_dict(ada_dir: Path, fixture: str):
    record = read_snapshot(ada_dir / fixture)["D"]
    assert record.class_name == "Discriminator"
    _assert_same_state(record.state_dict, _reference(ada_dir, "tiny_D_state_dict.pt"))


@pytest.mark.parametrize("fixture", FIXTURES)
def test_init_kwargs_are_the_stored_kwargs_as_plain_python(ada_dir: Path, fixture: str):
    config = json.loads((ada_dir / "tiny_config.json").read_text())
    record = load_generator_record(ada_dir / fixture)
    assert record.class_name == "Generator"
    assert record.init_args == ()
    assert record.init_kwargs == config["G_init_kwargs_as_stored_in_pickle"]
    assert type(record.init_kwargs["mapping_kwargs"]) is dict
    assert type(record.init_kwargs["synthesis_kwargs"]) is dict


def test_training_set_kwargs_come_back_as_a_plain_dict(ada_dir: Path):
    verification = json.loads((ada_dir / "verification.json").read_text())
    snapshot = read_snapshot(ada_dir / "tiny_snapshot.pkl")
    assert list(snapshot) == ["training_set_kwargs", "G", "D", "G_ema", "augment_pipe"]
    assert snapshot["augment_pipe"] is None
    expected = verification["tiny_snapshot.pkl"]["load_checks"]["official_training_set_kwargs"]
    assert type(snapshot["training_set_kwargs"]) is dict and snapshot["training_set_kwargs"] == expected


def test_ada_augment_pipe_is_an_inert_record_and_nothing_is_executed_or_imported(ada_dir: Path, monkeypatch):
    calls = []

    def spy(name: str):
        real = getattr(builtins, name)
        return lambda *args, **kwargs: calls.append(name) or real(*args, **kwargs)

    for name in ("exec", "eval", "compile"):
        monkeypatch.setattr(builtins, name, spy(name))
    pipe = read_snapshot(ada_dir / "tiny_snapshot_ada.pkl")["augment_pipe"]
    assert calls == []
    assert not {"torch_utils", "dnnlib", "training"} & {module.split(".")[0] for module in sys.modules}
    verification = json.loads((ada_dir / "verification.json").read_text())
    expected = verification["tiny_snapshot_ada.pkl"]["load_checks"]["augment_pipe"]
    assert isinstance(pipe, NetworkRecord) and pipe.class_name == "AugmentPipe"
    assert pipe.init_kwargs == expected["init_kwargs"]
    assert list(pipe.state_dict) == ["p", "Hz_geom", "Hz_fbank"]
    assert pipe.state_dict["p"].item() == expected["p"]


def test_embedded_module_source_is_never_executed(ada_dir: Path, tmp_path: Path):
    marker = tmp_path / "source_was_executed"
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('executed')\n"
    data = _transcode((ada_dir / "tiny_snapshot.pkl").read_bytes(), 4, {PLACEHOLDER_SOURCE: payload})
    assert payload.encode() in data
    path = tmp_path / "with_source.pkl"
    path.write_bytes(data)
    record = load_generator_record(path)
    assert not marker.exists()
    _assert_same_state(record.state_dict, _reference(ada_dir, "tiny_state_dict.pt"))


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_same_snapshot_at_protocol_2_3_and_5_loads_identically(ada_dir: Path, tmp_path: Path, protocol: int):
    data = _transcode((ada_dir / "tiny_snapshot.pkl").read_bytes(), protocol)
    ops = list(pickletools.genops(data))
    assert ops[0][0].name == "PROTO" and ops[0][1] == protocol
    assert max(op.proto for op, _, _ in ops) <= protocol
    if protocol < 4:
        assert "GLOBAL" in _opcode_names(data) and not {"STACK_GLOBAL", "MEMOIZE", "FRAME"} & _opcode_names(data)
    if protocol < 3:
        assert b"_codecs\nencode\n" in data and b"__builtin__\nset\n" in data
    path = tmp_path / f"snapshot_p{protocol}.pkl"
    path.write_bytes(data)
    snapshot = read_snapshot(path)
    _assert_same_state(snapshot["G_ema"].state_dict, _reference(ada_dir, "tiny_state_dict.pt"))
    _assert_same_state(snapshot["D"].state_dict, _reference(ada_dir, "tiny_D_state_dict.pt"))
    config = json.loads((ada_dir / "tiny_config.json").read_text())
    assert snapshot["G_ema"].init_kwargs == config["G_init_kwargs_as_stored_in_pickle"]


def test_generator_falls_back_to_G_when_there_is_no_G_ema(ada_dir: Path, tmp_path: Path):
    path = tmp_path / "no_ema.pkl"
    path.write_bytes(_transcode((ada_dir / "tiny_snapshot.pkl").read_bytes(), 4, {"G_ema": "G_ema_removed"}))
    assert "G_ema" not in read_snapshot(path)
    record = load_generator_record(path)
    _assert_same_state(record.state_dict, _reference(ada_dir, "tiny_state_dict.pt"))


def test_a_discriminator_is_not_accepted_as_the_generator(ada_dir: Path):
    with pytest.raises(BadCheckpoint, match="'D' is a Discriminator, not a StyleGAN2 Generator"):
        load_generator_record(ada_dir / "tiny_snapshot.pkl", key="D")


def test_pickles_that_are_not_snapshots_are_refused_with_the_reason(tmp_path: Path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    with pytest.raises(BadCheckpoint, match="not a StyleGAN2-ADA snapshot"):
        read_snapshot(path)
    path.write_bytes(pickle.dumps({"weights": [1.0]}, protocol=4))
    with pytest.raises(BadCheckpoint, match=r"no generator under G_ema or G \(found \['weights'\]\)"):
        load_generator_record(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("payload, refused", [(_RunsShell, r"(posix|nt)\.system"),
                                              (_RunsExec, r"(builtins|__builtin__)\.exec")])
def test_malicious_globals_are_refused_before_anything_runs(tmp_path: Path, protocol: int, payload, refused: str):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload(marker)}, protocol=protocol))
    with pytest.raises(BadCheckpoint, match=f"refusing to load: the file references {refused},"):
        load_generator_record(path)
    assert not marker.exists()


def test_malicious_pickle_inside_a_storage_blob_is_refused(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_blob.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _StorageBlobRunsShell(marker)}, protocol=4))
    assert b"torch.storage" in path.read_bytes()
    with pytest.raises(BadCheckpoint, match=r"references posix\.system|references nt\.system"):
        read_snapshot(path)
    assert not marker.exists()


def test_truncated_snapshot_is_reported_as_truncated(ada_dir: Path, tmp_path: Path):
    data = (ada_dir / "tiny_snapshot.pkl").read_bytes()
    path = tmp_path / "half.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadCheckpoint, match="half.pkl is truncated or corrupt"):
        read_snapshot(path)


def test_png_renamed_to_pkl_is_reported_as_not_a_pickle(ada_dir: Path, tmp_path: Path):
    path = tmp_path / "image.pkl"
    path.write_bytes((ada_dir / "preview_img_G_const_psi1_uint8.png").read_bytes())
    with pytest.raises(BadCheckpoint, match="image.pkl is not a pickle file; expected an NVIDIA StyleGAN2-ADA"):
        load_generator_record(path)
