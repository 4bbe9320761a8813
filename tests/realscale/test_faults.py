"""What a download host does wrong, at the real sizes: a connection dropped half-way (the next run
resumes), a truncated file, a file whose sha256 differs, a web page instead of the checkpoint, a file or
a host that is not there. Each ends in one clear message, and nothing bad stays in the cache."""

from __future__ import annotations

import json
import socket

import pytest

import ganlab
from ganlab.cli import main
from ganlab.errors import WeightsUnavailable
from ganlab.models.download import MAX_ATTEMPTS, url_cache_path
from tests.realscale.conftest import FFHQ_256

PKL = "ffhq-res256-mirror-paper256-noaug.pkl"


def _nothing_cached(server) -> bool:
    entry = url_cache_path(server.url(PKL)).parent
    return not entry.exists() or not any(p.suffix in (".pkl", ".sha256") for p in entry.iterdir())


def test_a_dropped_connection_is_resumed_by_the_next_run(server, online, tmp_path, capsys):
    server.faults.drops[PKL] = MAX_ATTEMPTS  # every try of the first run is cut off half-way
    assert main(["sample", "--model", FFHQ_256, "--seeds", "1", "--out", str(tmp_path / "unused")]) == 2
    err = capsys.readouterr().err
    assert "download incomplete" in err and "run again to resume" in err and "Traceback" not in err
    part = url_cache_path(server.url(PKL)).with_name(PKL + ".part")
    kept = part.stat().st_size
    assert 0 < kept < server.files.served[PKL].stat().st_size
    server.faults.requests.clear()
    lab = ganlab.load(FFHQ_256, device="cpu")
    assert lab.resolution == 256
    assert server.faults.requests == [(PKL, f"bytes={kept}-")]  # only the rest was asked for
    assert not part.exists()


def test_a_truncated_file_is_refused_and_not_kept(server, online):
    server.faults.by_name[PKL] = "truncate"
    with pytest.raises(WeightsUnavailable, match="bytes, but the model's file has"):
        ganlab.load(FFHQ_256, device="cpu")
    assert _nothing_cached(server)


def test_a_file_with_another_sha256_is_refused_and_not_kept(server, online):
    server.faults.by_name[PKL] = "corrupt"
    with pytest.raises(WeightsUnavailable, match="has sha256 .* not the model's"):
        ganlab.load(FFHQ_256, device="cpu")
    assert _nothing_cached(server)
    server.faults.by_name.clear()
    assert ganlab.load(FFHQ_256, device="cpu").resolution == 256  # the next run downloads it afresh


def test_a_web_page_instead_of_the_checkpoint_is_named_as_such(server, online, tmp_path, monkeypatch):
    server.faults.by_name[PKL] = "html"
    with pytest.raises(WeightsUnavailable, match="sent a web page instead of"):
        ganlab.load(FFHQ_256, device="cpu")
    assert _nothing_cached(server)
    # a model added by URL, with no pinned size or digest, is told the same
    with pytest.raises(WeightsUnavailable, match="sent a web page instead of"):
        ganlab.load(server.url(PKL), device="cpu")
    assert _nothing_cached(server)


def test_a_missing_file_and_a_missing_host_say_what_was_tried(server, online, tmp_path, monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    models = [{"id": FFHQ_256, "files": [{"name": PKL, "sources": [{"url": server.url("no-such.pkl")},
                                                                    {"url": f"http://127.0.0.1:{closed}/{PKL}"}]}]}]
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format": "ganlab-models", "version": 1, "models": models}))
    monkeypatch.setenv("GANLAB_MODELS", str(path))
    assert main(["sample", "--model", FFHQ_256, "--seeds", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "cannot connect" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
