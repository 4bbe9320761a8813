"""Folders through the batch pipeline: outputs and manifest, failures recorded, resuming after a driver is
killed at any point (no duplicates, nothing missing), faces and objects, and the same run on Ray with two
workers, one of which is killed while it works."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ganlab
from ganlab.batch import BatchJob, BatchProgress, BatchSummary, run_batch
from ganlab.batch.manifest import LABELS, Manifest
from ganlab.errors import GanlabError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Six rendered faces in two sub-folders, and a file that is no image."""
    folder = tmp_path_factory.mktemp("faces")
    lab = ganlab.load("toyfaces-64", device="cpu")
    for seed in range(6):
        sub = folder / ("a" if seed < 3 else "b")
        sub.mkdir(exist_ok=True)
        lab.render(lab.sample(seed)[0]).save(sub / f"face{seed}.png")
    (folder / "a" / "broken.png").write_bytes(b"this is not an image")
    return folder


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / LABELS, newline="") as f:
        return list(csv.DictReader(f))


def _summaries(out: Path) -> list[str]:
    return sorted(r["source"] for r in _rows(out) if r.get("kind") == "source")  # the header may be half-written


def test_a_folder_of_faces_is_inverted_and_augmented_with_a_manifest(faces, tmp_path):
    job = BatchJob("toyfaces-64", task="augment", method="fast", align=False, directions=("smile",),
                   magnitudes=(-2.0, 2.0))
    records = list(run_batch(job, faces, tmp_path / "out", device="cpu"))
    progress, summary = records[:-1], records[-1]
    assert isinstance(summary, BatchSummary) and all(isinstance(r, BatchProgress) for r in progress)
    assert [r.done for r in progress] == list(range(1, 8)) and progress[-1].total == 7
    assert summary.done == 7 and summary.done_before == 0
    assert [f["source"] for f in summary.failed] == ["a__broken.png"]
    assert "not an image" in summary.failed[0]["message"]
    out = tmp_path / "out"
    folder = out / "b__face4.png"
    assert sorted(p.name for p in folder.iterdir()) == ["latent.npz", "reconstruction.png", "smile_+2.png",
                                                        "smile_-2.png"]
    rows = [r for r in _rows(out) if r["source"] == "b__face4.png"]
    assert [r["kind"] for r in rows] == ["reconstruction", "augmentation", "augmentation", "source"]
    assert rows[1]["transform"] == "smile" and float(rows[1]["magnitude"]) == -2.0 and rows[-1]["status"] == "ok"
    assert float(rows[-1]["psnr"]) > 15
    assert all((out / r["file"]).is_file() for r in _rows(out) if r["file"])
    import pyarrow.parquet as pq

    table = pq.read_table(out / "manifest.parquet")
    assert table.num_rows == len(_rows(out)) and table.schema.field("psnr").type == "double"

    again = list(run_batch(job, faces, out, device="cpu"))  # only the failure is tried again
    assert [r.source for r in again[:-1]] == ["a__broken.png"] and again[-1].done_before == 6
    assert len(_rows(out)) == len(rows) * 6 + 1 and _summaries(out).count("a__broken.png") == 1
    other = BatchJob("toyfaces-64", task="invert", method="fast", align=False)
    with pytest.raises(GanlabError, match="holds a run of another job .* task"):
        list(run_batch(other, faces, out, device="cpu"))


def test_an_out_folder_inside_the_source_is_not_read_back_and_twin_names_are_refused(faces, tmp_path):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(faces / "b", src)
    job = BatchJob("toyfaces-64", task="invert", method="fast", align=False)
    first = list(run_batch(job, src, src / "out", device="cpu"))[-1]
    second = list(run_batch(job, src, src / "out", device="cpu"))[-1]
    assert first.sources == second.sources == 3 and second.done == 0
    (src / "x").mkdir()
    shutil.copy(src / "face3.png", src / "x" / "y.png")
    shutil.copy(src / "face3.png", src / "x__y.png")
    with pytest.raises(GanlabError, match="would share an output folder .*x__y.png"):
        list(run_batch(job, src, tmp_path / "other", device="cpu"))


def test_a_torn_manifest_keeps_only_finished_sources(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.commit([dict(source="x.png", kind="reconstruction", file="x.png/reconstruction.png", status="ok"),
                     dict(source="x.png", kind="source", file="x.png/latent.npz", status="ok")])
    with open(tmp_path / LABELS, "a") as f:  # a run killed mid-append: a row of y.png, then half a line
        f.write("y.png,y.png/reconstruction.png,reconstruction,,,,1,fast,,,,ok,\ny.png,y.png/lat")
    again = Manifest(tmp_path)
    assert again.done() == {"x.png"} and {r["source"] for r in again.rows} == {"x.png"}
    assert (tmp_path / LABELS).read_text().endswith("\n") and "y.png" not in (tmp_path / LABELS).read_text()
    with pytest.raises(ValueError, match="summary"):
        again.commit([dict(source="z.png", kind="reconstruction")])


def test_a_driver_killed_mid_run_resumes_without_duplicates(faces, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ganlab", "batch", "invert", str(faces), "--model", "toyfaces-64",
               "--out", str(out), "--method", "projector", "--steps", "40", "--no-align", "--device", "cpu"]
    env = {**os.environ, "GANLAB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / LABELS).is_file() and len(_summaries(out)) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    first = _summaries(out)
    assert 2 <= len(first) < 7, "the run should have been killed part-way"
    ok_before = sum(r["status"] == "ok" for r in _rows(out) if r.get("kind") == "source")
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 1  # broken.png failed, and says so
    assert f"{ok_before} before" in finished.stdout and "broken.png" in finished.stdout
    sources = _summaries(out)
    assert sources == sorted(set(sources)) and len(sources) == 7  # each once, none missing
    latents = sorted(p.parent.name for p in out.glob("*/latent.npz"))
    assert latents == sorted(s for s in sources if "broken" not in s)
    assert not list(out.rglob("*.tmp"))


def test_objects_are_augmented_with_zoom_and_slides(tmp_path):
    lab = ganlab.load("toyobjects-64", device="cpu")
    src = tmp_path / "src"
    src.mkdir()
    for seed in range(2):
        lab.render(lab.sample(seed, class_name="star")[0]).save(src / f"star{seed}.png")
    job = BatchJob("toyobjects-64", task="augment", steps=5, cls="star", transforms=("zoom", "slide_left"),
                   magnitudes=(1.3,), per_image_steps=2)
    summary = list(run_batch(job, src, tmp_path / "out", device="cpu"))[-1]
    assert summary.done == 2 and not summary.failed
    rows = [r for r in _rows(tmp_path / "out") if r["kind"] == "augmentation"]
    assert sorted((r["source"], r["transform"]) for r in rows) == [
        ("star0.png", "slide_left"), ("star0.png", "zoom"), ("star1.png", "slide_left"), ("star1.png", "zoom")]
    assert all(r["label"] == "star" for r in rows)


def test_a_job_that_would_fail_every_image_fails_before_the_first(faces, tmp_path):
    job = BatchJob("toyfaces-64", task="augment", method="fast", align=False, directions=("grin",))
    with pytest.raises(GanlabError, match="no direction named grin"):
        list(run_batch(job, faces, tmp_path / "out", device="cpu"))
    assert not (tmp_path / "out" / LABELS).exists() and not (tmp_path / "out" / "job.json").exists()
    fixed = BatchJob("toyfaces-64", task="augment", method="fast", align=False, directions=("smile",))
    assert list(run_batch(fixed, faces / "b", tmp_path / "out", device="cpu"))[-1].done == 3  # not refused
    with pytest.raises(GanlabError, match="task must be one of"):
        BatchJob("toyfaces-64", task="train")


def _ray_workers() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"_RayWorker" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_two_ray_workers_give_what_one_process_gives_even_when_one_is_killed(faces, tmp_path):
    pytest.importorskip("ray")
    job = BatchJob("toyfaces-64", task="invert", method="fast", align=False)
    alone = list(run_batch(job, faces, tmp_path / "alone", device="cpu"))[-1]
    killed: list[int] = []
    records = []
    for rec in run_batch(job, faces, tmp_path / "ray", workers=2, batch_size=1, device="cpu"):
        records.append(rec)
        if isinstance(rec, BatchProgress) and not killed:  # the actors are at work: one dies mid-run
            pids = _ray_workers()
            assert pids, "the Ray workers should be running"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
    together = records[-1]
    assert killed and isinstance(together, BatchSummary)
    assert together.done == alone.done == 7
    assert _summaries(tmp_path / "ray") == _summaries(tmp_path / "alone")
    for latent in (tmp_path / "alone").glob("*/latent.npz"):
        twin = tmp_path / "ray" / latent.parent.name / "latent.npz"
        assert np.allclose(np.load(latent)["latent"], np.load(twin)["latent"], atol=1e-5)
