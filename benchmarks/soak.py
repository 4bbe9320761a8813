"""Soak test of the app as a public Space sees it: many anonymous visitors through the Gradio API.

Starts `app.py` on a free 127.0.0.1 port (offline, its own cache, state and temp folders), runs one
visitor to load the models, lets it expire, and takes that as the idle baseline. Then `--sessions`
visitors (`--concurrency` at a time) each: align a 6000x4000 photo, project it for 20 steps, add a
sample, move an edit slider, render a 10-frame interpolation, download the latent, and try to read
another visitor's latent (a leak if that works). Finally all go idle past the app's session limit and
one more request lets the app sweep them. Prints peak and final memory of the app process, disk growth
of its folders, errors and leaks. Goal: 0 errors, 0 leaks, memory after expiry within 10% of the idle
baseline, disk back to baseline.

Run: python -m benchmarks.soak [--sessions 50] [--concurrency 2] [--idle 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def folder_mb(*folders: Path) -> float:
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass
    return total / 2 ** 20


def start_app(work: Path, idle_s: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    for sub in ("cache", "state", "gradio", "tmp"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GANLAB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GANLAB_CACHE": str(work / "cache"), "GANLAB_STATE": str(work / "state"),
           "GRADIO_TEMP_DIR": str(work / "gradio"), "TMPDIR": str(work / "tmp"),
           "GANLAB_SESSION_IDLE_S": str(idle_s), "GANLAB_UPLOAD_CACHE_S": str(idle_s)}
    log = open(work / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited: see {work / 'app.log'}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not answer within 180 s")


def own_copy(photo: Path, i: int) -> Path:
    """The photo with one pixel changed: each visitor uploads different bytes, as real visitors do."""
    path = photo.with_name(f"visitor{i}-{photo.name}")
    if not path.exists():
        img = np.asarray(Image.open(photo)).copy()
        img[0, 0] = (i * 7 % 256, i * 13 % 256, i * 29 % 256)
        Image.fromarray(img).save(path, quality=90)
    return path


def visitor(url: str, i: int, n: int, photo: Path, face: Path, labels: dict) -> tuple[int, int]:
    """One visitor's whole flow; returns (errors, leaks)."""
    from gradio_client import Client, handle_file

    errors, leaks = 0, 0
    client = Client(url, verbose=False)
    steps = [
        ("/run_align", dict(image=handle_file(str(own_copy(photo, i))), backend="dlib", size=256)),
        ("/arm", {}),
        ("/start_run", dict(image=handle_file(str(face)), model_id="toyfaces-64", method_label=labels["method"],
                            space_label=labels["space"], n_steps=20, store_as=f"soak-{i}")),
        ("/on_add", dict(model_id="toyfaces-64", n=i, cls="")),
        ("/refresh", dict(chosen=None)),  # opening the Edit tab fills its latent list, as a page does
        ("/render", dict(name=f"soak-{i}", source_label=labels["source"], layer_preset="all", first=0, last=4,
                         **{f"param_{k}": (2.0 if k == 5 else 0.0) for k in range(5, 17)})),
        ("/refresh_1", dict(chosen=None)),  # and the Interpolate tab's
        ("/run", dict(chosen=[f"soak-{i}", f"toyfaces-64-seed{i}"], n=10, rate=24, ease="linear", loop=False)),
        ("/on_npz", dict(latent=f"soak-{i}")),
    ]
    for api_name, kwargs in steps:
        try:
            client.predict(api_name=api_name, **kwargs)
        except Exception as err:  # noqa: BLE001 - every failure counts, whatever its kind
            errors += 1
            print(f"  visitor {i} {api_name}: {type(err).__name__}: {str(err)[:160]}", flush=True)
    if n > 1:
        try:
            client.predict(api_name="/on_npz", latent=f"soak-{(i + 1) % n}")
            leaks += 1  # another visitor's latent was readable
        except Exception:  # noqa: BLE001 - refusing is the expected outcome
            pass
    client.close()
    return errors, leaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--idle", type=float, default=20.0, help="the app's session idle limit for this run, s")
    args = parser.parse_args()
    from ganlab.ui.edit_tab import SOURCE_LABELS
    from ganlab.ui.project_tab import METHODS, SPACES

    labels = {"method": "Optimise from the mean w (tuned: sharper in fewer steps)", "space": next(iter(SPACES)),
              "source": next(k for k, v in SOURCE_LABELS.items() if v == "ganspace")}
    assert labels["method"] in METHODS
    with tempfile.TemporaryDirectory(prefix="ganlab-soak-") as tmp:
        work = Path(tmp)
        photo, face = work / "photo-6000x4000.jpg", work / "face.png"
        Image.fromarray(data.astronaut()).resize((6000, 4000)).save(photo, quality=90)
        Image.fromarray(np.asarray(Image.fromarray(data.astronaut()).crop((150, 20, 330, 200)))).save(face)
        proc, url = start_app(work, args.idle)
        folders = [work / "cache", work / "state", work / "gradio", work / "tmp"]
        try:
            print(f"# soak: {args.sessions} visitors, {args.concurrency} at a time, session idle limit {args.idle:g} s")
            visitor(url, 0, 1, photo, face, labels)  # warm-up: models loaded, caches filled
            time.sleep(args.idle + 2)
            visitor_touch(url)
            base_rss, _ = rss_mb(proc.pid)
            base_disk = folder_mb(*folders)
            print(f"idle baseline: {base_rss:.0f} MB resident, {base_disk:.1f} MB on disk")
            started, peak = time.time(), [base_rss]
            stop = threading.Event()

            def sample_memory() -> None:
                while not stop.wait(0.5):
                    peak.append(rss_mb(proc.pid)[0])

            sampler = threading.Thread(target=sample_memory, daemon=True)
            sampler.start()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(lambda i: visitor(url, i, args.sessions, photo, face, labels),
                                        range(1, args.sessions + 1)))
            stop.set()
            sampler.join()
            busy_disk = folder_mb(*folders)
            errors, leaks = sum(r[0] for r in results), sum(r[1] for r in results)
            print(f"{args.sessions} visitors in {time.time() - started:.0f} s: {errors} errors, {leaks} leaks; "
                  f"peak {max(peak):.0f} MB resident, {busy_disk:.1f} MB on disk")
            time.sleep(args.idle + 2)
            visitor_touch(url)
            time.sleep(args.idle / 2 + 2)  # Gradio sweeps its upload cache every idle/2 s (files older than idle)
            final_rss, _ = rss_mb(proc.pid)
            final_disk = folder_mb(*folders)
            print(f"after expiry: {final_rss:.0f} MB resident ({100 * (final_rss / base_rss - 1):+.1f}% of the "
                  f"baseline), {final_disk:.1f} MB on disk ({final_disk - base_disk:+.1f} MB)")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def visitor_touch(url: str) -> None:
    """One cheap request from a new visitor: the app sweeps idle sessions when any session is used."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    client.predict(api_name="/on_add", model_id="toyfaces-64", n=0, cls="")
    client.close()


if __name__ == "__main__":
    main()
