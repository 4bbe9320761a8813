"""write_atomically: the whole file appears at once, with its folder, and no temporary file is left."""

from __future__ import annotations

from ganlab.fileio import write_atomically


def test_writes_text_and_bytes_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "config.json"
    assert write_atomically(target, '{"a": 1}') == target and target.read_text() == '{"a": 1}'
    write_atomically(target, b"\x00\x01")                  # rewriting replaces the file whole
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json"]
