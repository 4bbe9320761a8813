"""Named models: where their weights come from, what they are, and whether they can be used now.

Real models download on first use and are cached (`GANLAB_CACHE`); bundled demo models ship in
`assets/models/`. Users can add a local checkpoint path or a URL at run time.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ganlab import settings
from ganlab.errors import BadCheckpoint, GanlabError, WeightsUnavailable
from ganlab.models import download
from ganlab.models.base import GanModel
from ganlab.models.biggan import BIN_NAME, CONFIG_NAME, biggan_deep_sources, load_biggan_deep
from ganlab.models.download import Source

NVIDIA_CDN = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
NVIDIA_LICENCE = "NVIDIA Source Code License-NC: research and non-commercial use only"
BIGGAN_LICENCE = "Apache-2.0 (DeepMind BigGAN-deep, converted by Hugging Face)"
OWN_LICENCE = "Same licence as ganlab; trained by the project on procedurally rendered images"


@dataclass(frozen=True)
class ModelSpec:
    """A model the user can pick and where its weights come from.

    Exactly one of: `bundled` (a folder under assets/models), `path` (a local file or folder the
    user added), or `files` (for each file the model needs, the sources to try in order).
    """

    id: str
    title: str
    kind: str                                     # 'stylegan2', 'biggan', or 'unknown' until loaded
    resolution: int                               # 0 when not known before loading
    licence: str
    description: str = ""
    domain: str = ""                              # what it generates: 'faces', 'objects', 'imagenet'
    caveat: str = ""                              # what it cannot do, said wherever it is used
    owner: str = ""                               # the app session that added it ('' = everyone's)
    bundled: str = ""
    path: str = ""
    files: tuple[tuple[Source, ...], ...] = ()

    def describe_sources(self) -> str:
        if self.bundled:
            return f"bundled folder assets/models/{self.bundled}"
        if self.path:
            return f"local path {self.path}"
        return "; ".join(" or ".join(_describe(src) for src in alternatives) for alternatives in self.files)


@dataclass
class ModelStatus:
    """'ready' (weights on disk), 'downloadable' (will download on first use) or 'missing' (with why)."""

    state: str
    detail: str


def _describe(src: Source) -> str:
    return f"hub {src[1]}/{src[2]}" if src[0] == "hub" else src[1]


def _biggan(res: int) -> ModelSpec:
    return ModelSpec(
        id=f"biggan-deep-{res}", title=f"BigGAN-deep {res}", kind="biggan", resolution=res, licence=BIGGAN_LICENCE,
        domain="imagenet", description=f"Class-conditional ImageNet generator at {res} px (1000 classes)",
        files=tuple(tuple(biggan_deep_sources(res, name)) for name in (CONFIG_NAME, BIN_NAME)))


def _nvidia(model_id: str, title: str, res: int, url: str, description: str) -> ModelSpec:
    return ModelSpec(id=model_id, title=title, kind="stylegan2", resolution=res, licence=NVIDIA_LICENCE,
                     domain="faces", description=description, files=((("url", url),),))


BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec(id="toyfaces-64", title="Toy faces 64 (bundled demo)", kind="stylegan2", resolution=64,
              licence=OWN_LICENCE, domain="faces", bundled="toyfaces-64",
              description="Small StyleGAN2 trained on rendered cartoon faces; works offline",
              caveat="toyfaces-64 is a demo model that draws cartoon faces: it cannot reproduce a photo, so a "
                     "photo comes back as a cartoon look-alike. For photos use stylegan2-ffhq-256 or "
                     "stylegan2-ffhq-1024 (downloaded on first use where the network is available)."),
    ModelSpec(id="toyobjects-64", title="Toy objects 64 (bundled demo)", kind="biggan", resolution=64,
              licence=OWN_LICENCE, domain="objects", bundled="toyobjects-64",
              description="Small BigGAN trained on rendered objects of 10 classes; works offline",
              caveat="toyobjects-64 is a demo model of 10 rendered toy objects: it cannot reproduce a photo. For "
                     "photos of objects use biggan-deep-128 (downloaded on first use where the network is "
                     "available)."),
    _nvidia("stylegan2-ffhq-1024", "StyleGAN2-ADA FFHQ 1024", 1024, f"{NVIDIA_CDN}/ffhq.pkl",
            "NVIDIA's official FFHQ generator (original StyleGAN2 config), 1024 px"),
    _nvidia("stylegan2-ffhq-512", "StyleGAN2 FFHQ 512", 512,
            f"{NVIDIA_CDN}/transfer-learning-source-nets/ffhq-res512-mirror-stylegan2-noaug.pkl",
            "NVIDIA FFHQ 512 px (stylegan2 config)"),
    _nvidia("stylegan2-ffhq-256", "StyleGAN2 FFHQ 256", 256,
            f"{NVIDIA_CDN}/transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl",
            "NVIDIA FFHQ 256 px (paper256 config)"),
    _biggan(128), _biggan(256), _biggan(512),
)


@dataclass
class Registry:
    """The models on offer: the built-in list plus what the user added in this process."""

    specs: dict[str, ModelSpec] = field(default_factory=lambda: {s.id: s for s in BUILTIN})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def list(self, viewer: str | None = None) -> list[ModelSpec]:
        """Every model, or with `viewer` (an app session) the shared ones and that session's own."""
        with self._lock:
            return [s for s in self.specs.values() if viewer is None or s.owner in ("", viewer)]

    def get(self, model_id: str, viewer: str | None = None) -> ModelSpec:
        """The model `model_id`; with `viewer`, another session's model is as unknown as a missing one."""
        with self._lock:
            spec = self.specs.get(model_id)
        if spec is None or (viewer is not None and spec.owner not in ("", viewer)):
            known = ", ".join(s.id for s in self.list(viewer))
            raise GanlabError(f"unknown model '{model_id}'; known: {known}")
        return spec

    def remove(self, model_id: str) -> None:
        """Forget a model a session added (e.g. a file that turned out not to be a checkpoint)."""
        with self._lock:
            self.specs.pop(model_id, None)

    def remove_owned_by(self, owner: str) -> list[str]:
        """Drop the models an ended session added; returns their ids."""
        with self._lock:
            gone = [i for i, s in self.specs.items() if owner and s.owner == owner]
            for model_id in gone:
                del self.specs[model_id]
        return gone

    def add(self, location: str, model_id: str | None = None, public: bool = False, owner: str = "",
            uploaded: bool = False) -> ModelSpec:
        """Register a user checkpoint (local path, file:// or http(s) URL); its kind is read when loaded.

        `public` (an app open to anonymous visitors): only https URLs on `settings.public_hosts()`, and
        nothing about the server's own files is looked at or told. `owner`: the app session it belongs
        to (only that session sees it). `uploaded`: `location` is a file the app itself received from the
        session (a checkpoint upload), so a public app may open it. An id already taken gets a number:
        nothing is replaced.
        """
        location = location.strip()
        if not location:
            raise GanlabError("give a local checkpoint path or a URL")
        if public and not uploaded:
            location = _check_public_url(location)
        is_remote = bool(re.match(r"^https?://", location))
        stem = Path(location.rstrip("/")).name.rsplit(".", 1)[0] or "model"
        # a session's models carry a mark of it, so two visitors adding the same file never meet on an id
        # (a restart gives each back the ids its latents name)
        mark = "-" + hashlib.sha256(owner.encode()).hexdigest()[:4] if owner else ""
        model_id = model_id or "user-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", stem) + mark
        common = dict(title=f"{stem} (added)", kind="unknown", resolution=0, licence="as supplied by the user",
                      description="added by this session" if owner else f"added from {location}", owner=owner)
        if is_remote:
            source = dict(files=((("url", location),),))
        else:
            local = Path(location.removeprefix("file://")).expanduser()
            if not local.exists():
                raise GanlabError(f"no file or folder at '{location}'")
            source = dict(path=str(local.resolve()))
        with self._lock:
            unique, n = model_id, 1
            while unique in self.specs:
                n += 1
                unique = f"{model_id}-{n}"
            spec = self.specs[unique] = ModelSpec(id=unique, **common, **source)
        return spec


def _check_public_url(location: str) -> str:
    """The URL a public app registers: https on the allow-list, without its query or fragment (which
    would only make more cache entries of the same file)."""
    parts = urlsplit(location)
    if parts.scheme != "https" or not settings.host_allowed(parts.hostname):
        raise GanlabError("this public lab only adds checkpoints by https URL from " + ", ".join(settings.public_hosts())
                          + " (files on the server cannot be opened from here)")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def bundled_folder(spec: ModelSpec) -> Path:
    return settings.assets_dir() / "models" / spec.bundled


def status(spec: ModelSpec) -> ModelStatus:
    """Whether `spec` can be used now, without touching the network."""
    if spec.bundled:
        folder = bundled_folder(spec)
        if (folder / "config.json").is_file():
            return ModelStatus("ready", f"bundled in assets/models/{spec.bundled}")
        return ModelStatus("missing", f"bundled model folder {folder} is missing")
    if spec.path:
        if Path(spec.path).exists():
            return ModelStatus("ready", f"local file {spec.path}")
        return ModelStatus("missing", f"local file {spec.path} no longer exists")
    if all(any(download.cached_path(src) for src in alternatives) for alternatives in spec.files):
        return ModelStatus("ready", "downloaded to the cache")
    if settings.offline():
        return ModelStatus("missing", "not in the cache and GANLAB_OFFLINE is set; would download from "
                           + spec.describe_sources())
    return ModelStatus("downloadable", "downloads on first use from " + spec.describe_sources())


def load_model(registry: Registry, model_id: str) -> GanModel:
    """Read `model_id` into a generator on the CPU, downloading its weights first when needed.

    Raises `WeightsUnavailable` (what was tried, how to supply the file) or `BadCheckpoint`.
    """
    from ganlab.models.loaders import load_checkpoint

    spec = registry.get(model_id)
    if spec.bundled:
        folder = bundled_folder(spec)
        if not (folder / "config.json").is_file():
            raise WeightsUnavailable(spec.id, [str(folder)], "the bundled model is missing from this install",
                                     "reinstall ganlab or restore assets/models from the repository")
        return load_checkpoint(folder, name=spec.id)
    if spec.path:
        return load_checkpoint(spec.path, name=spec.id)
    if spec.kind == "biggan":
        return load_biggan_deep(spec.resolution)
    path = download.fetch_first(list(spec.files[0]), spec.id)
    try:
        return load_checkpoint(path, name=spec.id)
    except BadCheckpoint:
        download.discard(path)  # not a checkpoint: it must not stay in the cache as if it were one
        raise
