"""Blends toward other identities in a batch run (`--identities`, `--toward`): partners drawn from each
source's seed (never itself, never one that failed to invert), one file and one manifest row per partner
and fraction, a run stopped in the blend phase resumed without duplicates or gaps, a partner that inverts
on a retry taken in, tuned (PTI) latents blended as the interpolation blends them, the same on Ray, and
BigGAN models refusing the option before any image."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganlab
from ganlab.batch import BatchJob, BatchProgress, BatchSummary, run_batch
from ganlab.batch.manifest import LABELS
from ganlab.batch.pipeline import choose_partners
from ganlab.cli import main
from ganlab.errors import GanlabError
from ganlab.session import load_latent_file

JOB = BatchJob("toyfaces-64", task="augment", method="fast", align=False, directions=("smile",),
               magnitudes=(2.0,), identities=2, toward=(0.5, 0.25))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


@pytest.fixture(scope="module")
def lab():
    return ganlab.load("toyfaces-64", device="cpu")


@pytest.fixture(scope="module")
def faces(tmp_path_factory, lab) -> Path:
    """Five rendered faces and a file that is no image (it never inverts)."""
    folder = tmp_path_factory.mktemp("faces")
    for seed in range(5):
        lab.render(lab.sample(seed)[0]).save(folder / f"face{seed}.png")
    (folder / "broken.png").write_bytes(b"this is not an image")
    return folder


@pytest.fixture
def src(faces, tmp_path) -> Path:
    return Path(shutil.copytree(faces, tmp_path / "src"))


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / LABELS, newline="") as f:
        return list(csv.DictReader(f))


def _blends(out: Path) -> dict[str, list[dict[str, str]]]:
    """Each source's blend rows, its summary last."""
    found: dict[str, list[dict[str, str]]] = {}
    for row in _rows(out):
        if row["kind"] in ("identity", "identities"):
            found.setdefault(row["source"], []).append(row)
    return found


def _inverted(out: Path) -> set[str]:
    return {r["source"] for r in _rows(out) if r["kind"] == "source" and r["status"] == "ok"}


def _check_blends(src: Path, out: Path, job: BatchJob) -> None:
    """Every source inverted well has its partners' blends, once each, and every file listed exists;
    no blend on disk is missing from the manifest."""
    inverted = _inverted(out)
    keys = sorted(p.name for p in src.iterdir())
    blends = _blends(out)
    assert sorted(blends) == sorted(inverted)
    for key, rows in blends.items():
        *made, summary = rows
        assert summary["kind"] == "identities" and summary["status"] == "ok"
        partners = json.loads(summary["identity"])
        assert partners == choose_partners(job, key, keys, inverted)[0]
        assert len(partners) == job.identities == len(set(partners)) and key not in partners
        assert set(partners) <= inverted
        assert [(r["identity"], float(r["magnitude"])) for r in made] == [
            (p, t) for p in partners for t in job.toward]
        assert all(r["kind"] == "identity" and r["transform"] == "identity" for r in made)
        assert all((out / r["file"]).is_file() for r in made)
        on_disk = sorted(p.name for p in (out / key).glob("toward_*"))
        assert on_disk == sorted(Path(r["file"]).name for r in made)
    assert not list(out.rglob("*.tmp"))


def test_each_face_is_blended_toward_other_identities_chosen_from_its_seed(src, tmp_path, lab, capsys):
    out = tmp_path / "out"
    records = list(run_batch(JOB, src, out, device="cpu", lab=lab))
    phases = [r.phase for r in records if isinstance(r, BatchProgress)]
    assert phases == ["images"] * 6 + ["identities"] * 5  # every source is tried before any blend
    summary = records[-1]
    assert isinstance(summary, BatchSummary) and summary.blended == 5 and summary.done == 6
    assert [f["source"] for f in summary.failed] == ["broken.png"]
    _check_blends(src, out, JOB)
    rows = _blends(out)
    passed_over = [k for k, r in rows.items() if "broken.png" in r[-1]["message"]]
    assert passed_over and all("passed over broken.png" in rows[k][-1]["message"] for k in passed_over)

    key, partner = "face0.png", json.loads(rows["face0.png"][-1]["identity"])[0]
    own, other = (load_latent_file(out / k / "latent.npz", lab.model, lab.name) for k in (key, partner))
    near, far = (np.asarray(Image.open(out / key / f"toward_{partner}_{t:g}.png"), dtype=np.float64)
                 for t in (0.5, 0.25))
    assert np.array_equal(near, np.asarray(lab.render(lab.blend(own, other, 0.5))))
    target = np.asarray(lab.render(other), dtype=np.float64)
    assert ((near - target) ** 2).mean() < ((far - target) ** 2).mean()  # half way is nearer the partner

    recorded = json.loads((out / "job.json").read_text())
    assert recorded["identities"] == 2 and recorded["toward"] == [0.5, 0.25]
    (out / "job.json").write_text(json.dumps({k: v for k, v in recorded.items() if k not in ("identities", "toward")}))
    with pytest.raises(GanlabError, match="differs in identities, toward"):  # a record from before the option
        list(run_batch(JOB, src, out, device="cpu", lab=lab))            # means a run without it
    (out / "job.json").write_text(json.dumps(recorded))
    again = list(run_batch(JOB, src, out, device="cpu", lab=lab))[-1]  # only the failure is tried again
    assert again.done == 1 and again.blended == 0 and _blends(out) == rows

    assert main(["batch", "augment", str(src), "--model", "toyfaces-64", "--out", str(tmp_path / "cli"),
                 "--method", "fast", "--no-align", "--device", "cpu", "--directions", "smile", "--magnitudes", "2",
                 "--identities", "2", "--toward", "0.5,0.25"]) == 1  # broken.png fails
    assert "5 blended toward others" in capsys.readouterr().out
    assert _blends(tmp_path / "cli") == rows  # the same partners, the same rows, from the CLI
    import pyarrow.parquet as pq

    table = pq.read_table(out / "manifest.parquet")
    assert table.column("identity").to_pylist().count(partner) >= 2


def test_a_partner_that_inverts_on_a_retry_is_taken_in_and_old_blends_give_way(src, tmp_path, lab):
    out = tmp_path / "out"
    list(run_batch(JOB, src, out, device="cpu", lab=lab))
    before = {k: json.loads(r[-1]["identity"]) for k, r in _blends(out).items()}
    lab.render(lab.sample(11)[0]).save(src / "broken.png", format="PNG")  # the file is an image now
    summary = list(run_batch(JOB, src, out, device="cpu", lab=lab))[-1]
    assert summary.done == 1 and not summary.failed
    keys = sorted(before) + ["broken.png"]
    inverted = set(keys)
    changed = [k for k in before if choose_partners(JOB, k, keys, inverted)[0] != before[k]]
    assert changed, "a source that passed broken.png over should now choose it"
    assert summary.blended == len(changed) + 1  # those, and broken.png itself
    assert "broken.png" in _blends(out)
    _check_blends(src, out, JOB)


def test_a_run_stopped_in_the_blend_phase_resumes_without_duplicates_or_gaps(src, tmp_path, lab):
    out = tmp_path / "out"
    run = run_batch(JOB, src, out, device="cpu", lab=lab)
    for rec in run:
        if isinstance(rec, BatchProgress) and rec.phase == "identities" and rec.done == 2:
            break
    run.close()  # stopped between two commits of the blend phase
    assert len(_blends(out)) == 2
    late = sorted(_inverted(out) - set(_blends(out)))
    (out / late[0] / "toward_face9.png_0.5.png").write_bytes(b"a blend of a partner it will not get")
    (out / late[1] / "toward_x.png.tmp").write_bytes(b"half a file")
    with open(out / LABELS, "a") as f:  # killed mid-append: one blend row of a source, then half a line
        f.write(f"{late[2]},{late[2]}/toward_face1.png_0.5.png,identity,{late[2]},identity,0.5,face1.png,1,blend,"
                f",,,ok,\n{late[2]},{late[2]}/tow")
    summary = list(run_batch(JOB, src, out, device="cpu", lab=lab))[-1]
    assert summary.blended == 3 and summary.done == 1  # the three left, and broken.png tried again
    _check_blends(src, out, JOB)
    files = [r["file"] for r in _rows(out) if r["file"]]
    assert len(files) == len(set(files))


def test_tuned_latents_blend_their_weights_as_the_interpolation_does(tmp_path, lab):
    src = tmp_path / "src"
    src.mkdir()
    for seed in (20, 21):
        lab.render(lab.sample(seed)[0]).save(src / f"face{seed}.png")
    job = BatchJob("toyfaces-64", task="augment", method="pti", steps=3, align=False, directions=("smile",),
                   magnitudes=(2.0,), identities=1, toward=(0.25, 0.5))
    out = tmp_path / "out"
    assert list(run_batch(job, src, out, device="cpu", lab=lab))[-1].blended == 2
    a, b = (load_latent_file(out / k / "latent.npz", lab.model, lab.name) for k in ("face20.png", "face21.png"))
    assert a.tuned is not None and b.tuned is not None
    video = lab.interpolate([a, b], frames=5, easing="linear")  # frames at 0, 0.25, 0.5, 0.75, 1
    for i, t in ((1, 0.25), (2, 0.5)):
        blend = np.asarray(Image.open(out / "face20.png" / f"toward_face21.png_{t:g}.png"), dtype=int)
        assert np.abs(blend - video.frames[i].astype(int)).max() <= 1


def test_a_folder_recorded_before_the_option_resumes_a_run_without_it(src, tmp_path, lab):
    plain = BatchJob("toyfaces-64", task="invert", method="fast", align=False)
    out = tmp_path / "out"
    list(run_batch(plain, src, out, device="cpu", lab=lab))
    recorded = json.loads((out / "job.json").read_text())
    (out / "job.json").write_text(json.dumps({k: v for k, v in recorded.items() if k not in ("identities", "toward")}))
    assert list(run_batch(plain, src, out, device="cpu", lab=lab))[-1].done_before == 5


def test_biggan_models_refuse_blends_before_any_image_and_bad_options_are_refused(tmp_path):
    objects = ganlab.load("toyobjects-64", device="cpu")
    src = tmp_path / "src"
    src.mkdir()
    objects.render(objects.sample(0, class_name="star")[0]).save(src / "star.png")
    job = BatchJob("toyobjects-64", task="augment", steps=2, cls="star", transforms=("zoom",), identities=1)
    with pytest.raises(GanlabError, match="BigGAN model: blends toward other identities"):
        list(run_batch(job, src, tmp_path / "out", device="cpu", lab=objects))
    assert not (tmp_path / "out" / LABELS).exists()
    latent = objects.sample(0, class_name="star")[0]
    with pytest.raises(GanlabError, match="BigGAN model"):
        objects.blend(latent, objects.sample(1, class_name="star")[0], 0.5)
    with pytest.raises(GanlabError, match="use the task 'augment'"):
        BatchJob("toyfaces-64", identities=1)
    with pytest.raises(GanlabError, match="between 0 and 1, not 0.5, 1"):
        BatchJob("toyfaces-64", task="augment", identities=1, toward=(0.5, 1.0))
    with pytest.raises(GanlabError, match="need a number of identities"):
        BatchJob("toyfaces-64", task="augment", toward=(0.5,))
    assert BatchJob("toyfaces-64", task="augment", identities=1).toward == (0.25, 0.5)


def test_blends_on_two_ray_workers_are_those_made_in_process(src, tmp_path, lab):
    pytest.importorskip("ray")
    list(run_batch(JOB, src, tmp_path / "alone", device="cpu", lab=lab))
    summary = list(run_batch(JOB, src, tmp_path / "ray", workers=2, batch_size=2, device="cpu"))[-1]
    assert summary.blended == 5
    _check_blends(src, tmp_path / "ray", JOB)
    assert ({k: r[-1]["identity"] for k, r in _blends(tmp_path / "ray").items()}
            == {k: r[-1]["identity"] for k, r in _blends(tmp_path / "alone").items()})
