"""Saved files and folders appear whole or not at all; a full disk is one plain message."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from ganlab.fileio import DiskFull, write_atomically, write_folder_atomically


def test_writes_text_and_bytes_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "config.json"
    assert write_atomically(target, '{"a": 1}') == target and target.read_text() == '{"a": 1}'
    write_atomically(target, b"\x00\x01")                  # rewriting replaces the file whole
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json"]


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_keeps_the_previous_file_whole_and_says_so(tmp_path, monkeypatch):
    target = tmp_path / "labels.csv"
    write_atomically(target, "a,b\n1,2\n")
    monkeypatch.setattr(Path, "write_text", _no_space)
    with pytest.raises(DiskFull, match="the disk is full: labels.csv was not written"):
        write_atomically(target, "a,b\n")
    monkeypatch.undo()
    assert target.read_text() == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    out = tmp_path / "face"
    write_folder_atomically(out, lambda f: (f / "a.txt").write_text("first"))

    def half_then_full(folder):
        (folder / "a.txt").write_text("second")
        _no_space()

    with pytest.raises(DiskFull, match="the projection of face was not written"):
        write_folder_atomically(out, half_then_full, what="the projection of face")
    assert (out / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face"]
    write_folder_atomically(out, lambda f: (f / "b.txt").write_text("third"))
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
