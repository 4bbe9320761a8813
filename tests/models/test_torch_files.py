"""User .pt files are read as weights only, and every refusal says why without advising an unsafe load."""

from __future__ import annotations

import argparse

import pytest
import torch

from ganlab.errors import BadCheckpoint
from ganlab.models.torch_files import load_weights_only


class Payload:
    """Stands for any Python object a checkpoint might smuggle in."""


def test_tensors_and_plain_containers_load(tmp_path):
    torch.save({"w": torch.ones(2), "meta": [1, "a"]}, tmp_path / "ok.pt")
    assert torch.equal(load_weights_only(tmp_path / "ok.pt")["w"], torch.ones(2))


def test_arbitrary_objects_are_refused_and_the_message_does_not_suggest_weights_only_false(tmp_path):
    torch.save({"w": Payload()}, tmp_path / "obj.pt")
    with pytest.raises(BadCheckpoint, match="only reads weights") as info:
        load_weights_only(tmp_path / "obj.pt")
    assert "weights_only" not in str(info.value)


def test_allowed_classes_are_accepted(tmp_path):
    torch.save({"args": argparse.Namespace(size=8)}, tmp_path / "args.pt")
    with pytest.raises(BadCheckpoint):
        load_weights_only(tmp_path / "args.pt")
    assert load_weights_only(tmp_path / "args.pt", allowed=[argparse.Namespace])["args"].size == 8


def test_non_torch_and_missing_files_are_named(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(BadCheckpoint, match="text.pt is not a PyTorch file"):
        load_weights_only(tmp_path / "text.pt")
    with pytest.raises(BadCheckpoint, match="cannot read"):
        load_weights_only(tmp_path / "missing.pt")
