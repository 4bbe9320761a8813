"""The public-Space probes, sent as an anonymous visitor would: through the Gradio API of a running app
(127.0.0.1, public mode). Each must end in a readable refusal that shows nothing of the server."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import _free_port, launch_app, stop_app

HOSTILE_PATHS = ("/etc", "/proc", "/tmp/", "/root", "site-packages")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("public-app")
    port = _free_port()
    proc = launch_app(port, folder, GANLAB_PUBLIC="1", GANLAB_STATE=str(folder / "state"))
    yield f"http://127.0.0.1:{port}/"
    stop_app(proc)


@pytest.fixture
def visitor(app):
    from gradio_client import Client

    client = Client(app, verbose=False)
    yield client
    client.close()


NOT_A_CHOICE = "is not in the list of choices"  # Gradio's own refusal of a name this session was never shown


def refused(client, api_name: str, *matches: str, **kwargs) -> str:
    """The message of the error the app answers with; it must name the problem and no server path."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(api_name=api_name, **kwargs)
    message = str(err.value)
    assert any(m in message for m in matches), message
    assert not any(p in message for p in HOSTILE_PATHS), message
    return message


def test_models_cannot_be_added_from_server_paths_or_foreign_urls(visitor):
    for location in ("/etc/passwd", "file:///etc/shadow", "app.py", "http://127.0.0.1:7860/",
                     "https://169.254.169.254/latest/meta-data"):
        refused(visitor, "/on_add_1", "only adds checkpoints by https URL", loc=location)


def test_a_zip_bomb_and_bad_metadata_in_uploaded_latents_are_refused(visitor, tmp_path):
    from gradio_client import handle_file

    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, w=np.zeros((64, 1024, 1024), np.float32))
    refused(visitor, "/on_upload", "unpacks to more than", path=handle_file(str(bomb)), model_id="toyfaces-64")
    bad = tmp_path / "bad.npz"
    meta = {"model_id": "toyfaces-64", "space": "w+", "metrics": {"psnr": "high"}}
    np.savez_compressed(bad, latent=np.zeros((1, 10, 128), np.float32), meta=np.array(json.dumps(meta)))
    refused(visitor, "/on_upload", "metrics", path=handle_file(str(bad)), model_id="toyfaces-64")
    visitor.predict(api_name="/refresh_2", chosen=None)  # the Session tab still lists without errors


def test_an_uploaded_checkpoint_that_is_not_one_is_refused_and_not_kept(visitor, tmp_path):
    from gradio_client import handle_file

    fake = tmp_path / "weights.pkl"
    fake.write_bytes(b"GIF89a" + bytes(200))
    refused(visitor, "/on_upload_1", "weights.pkl is not a pickle", path=handle_file(str(fake)))
    table = visitor.predict(api_name="/on_refresh")
    assert "user-weights" not in json.dumps(table)  # (ids of added models start with user-<file name>)


def test_huge_layer_ranges_magnitude_lists_and_pixel_counts_are_refused(visitor, tmp_path):
    from gradio_client import handle_file

    visitor.predict(api_name="/on_add", model_id="toyfaces-64", n=1, cls="")
    visitor.predict(api_name="/refresh", chosen=None)
    refused(visitor, "/render", "do not select ws indices", name="toyfaces-64-seed1", source_label="GANSpace (PCA of w)",
            layer_preset="custom", first=0, last=2e7, **{f"param_{k}": 1.0 for k in range(5, 17)})
    huge = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(huge)
    refused(visitor, "/run_align", "megapixels", image=handle_file(str(huge)), backend="dlib", size=256)
    picture = tmp_path / "object.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(picture)
    visitor.predict(api_name="/run_invert", picture=handle_file(str(picture)), model_id="toyobjects-64",
                    class_query="", n_steps=20, start_from_encoder=True)
    refused(visitor, "/run_gallery", "at most 16 magnitudes", names=["zoom"],
            magnitude_text="zoom=" + ",".join(["1.0"] * 400), n_samples=1)


def test_text_edits_refuse_endless_steps_and_essays(visitor):
    visitor.predict(api_name="/on_add", model_id="toyfaces-64", n=2, cls="")
    visitor.predict(api_name="/refresh", chosen=None)
    common = dict(text="a bald face", neutral_text="", power=1.0, name="toyfaces-64-seed2")
    too_many = ("steps must be 10 to 300", "greater than maximum value 300")  # the app's words, or Gradio's
    refused(visitor, "/edit_toward", *too_many, **{**common, "n_steps": 1e6})
    refused(visitor, "/edit_toward", "edit strength must be", "greater than maximum value 4",
            **{**common, "n_steps": 10, "power": 1e9})
    refused(visitor, "/edit_toward", "keep it under 200", "longer than", **{**common, "n_steps": 10,
                                                                        "text": "bald " * 1000})
    refused(visitor, "/pictures", "steps must be 10 to 300", "less than minimum value 10", text="a bald face",
            model_id="toyfaces-64", n_steps=-5, current=None)


def test_a_16_bit_photo_reads_as_the_cli_reads_it(visitor, tmp_path):
    import cv2
    from gradio_client import handle_file
    from skimage import data

    grey16 = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    path = tmp_path / "grey16.png"
    assert cv2.imwrite(str(path), grey16)
    status = visitor.predict(api_name="/run_align", image=handle_file(str(path)), backend="dlib", size=256)[2]
    assert "2 faces found" in status


@pytest.mark.parametrize("name,content,reason", [
    ("text.png", b"hello, not an image", "not an image"), ("empty.png", b"", "not an image"),
    ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the image is damaged"),
    ("vector.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not an image")])
def test_a_file_that_is_not_an_image_gets_a_one_line_reason(visitor, tmp_path, name, content, reason):
    from gradio_client import handle_file

    path = tmp_path / name
    path.write_bytes(content)
    refused(visitor, "/run_align", f"{name}: {reason}", image=handle_file(str(path)), backend="dlib", size=256)


def test_stop_before_the_queue_reaches_a_run_means_it_never_runs(visitor, tmp_path):
    from gradio_client import handle_file

    face = tmp_path / "face.png"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (180, 140, 120)).save(buf, format="PNG")
    face.write_bytes(buf.getvalue())
    visitor.predict(api_name="/arm")
    visitor.predict(api_name="/stop_run")
    out = visitor.predict(api_name="/start_run", image=handle_file(str(face)), model_id="toyfaces-64",
                          method_label="Encoder only (instant)", space_label="W+ (one w per layer)", n_steps=20,
                          store_as="never")
    assert "before it started" in out[2]
    refused(visitor, "/on_npz", "no stored latent named 'never'", NOT_A_CHOICE, latent="never")


def test_one_visitor_cannot_reach_anothers_latents(app):
    from gradio_client import Client

    alice, bob = Client(app, verbose=False), Client(app, verbose=False)
    try:
        alice.predict(api_name="/on_add", model_id="toyfaces-64", n=7, cls="")
        alice.predict(api_name="/on_npz", latent="toyfaces-64-seed7")
        refused(bob, "/on_npz", "no stored latent", NOT_A_CHOICE, latent="toyfaces-64-seed7")
    finally:
        alice.close()
        bob.close()
