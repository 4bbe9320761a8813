"""Named models: where their weights come from, what they are, and whether they can be used now.

The list is data: `data/models.json`, then the user's own files in the same format (`GANLAB_MODELS`,
`--models` on the CLI), which add models or change an entry's fields (a mirror, a local copy, a sha256).
Real models download on first use and are cached (`GANLAB_CACHE`); bundled demo models ship in
`assets/models/`. Users can add a local checkpoint path or a URL at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ganlab import settings
from ganlab.errors import BadCheckpoint, GanlabError, WeightsUnavailable
from ganlab.models import download
from ganlab.models.base import GanModel
from ganlab.models.biggan import load_biggan_files
from ganlab.models.download import Source
from ganlab.models.folder import helpers_folder_for



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
    for_photos: str = ""                          # the real model to offer when a photo meets this demo model
    text_model: str = "clip-vit-b32"              # the text-image model its text features use (ganlab.text)
    approx_mb: float | None = None                # download size estimated from the architecture, for messages
    owner: str = ""                               # the app session that added it ('' = everyone's)
    bundled: str = ""
    path: str = ""
    files: tuple[tuple[Source, ...], ...] = ()
    sizes: tuple[int | None, ...] = ()            # per file, when known: checked after download
    digests: tuple[str | None, ...] = ()          # per file, sha256 when known: checked once, then trusted

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


MODELS_FILE = Path(__file__).resolve().parent / "data" / "models.json"
_FIELDS = ("title", "kind", "resolution", "licence", "description", "domain", "caveat", "for_photos", "approx_mb",
           "bundled", "text_model")


def read_models(path: Path | str, base: dict[str, ModelSpec] | None = None) -> list[ModelSpec]:
    """The entries of a models file (`ganlab/models/data/models.json` is the built-in one). An entry whose
    id is in `base` replaces only the fields it gives (e.g. its files' sources: a mirror, a local copy)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        entries = data["models"]
        if data.get("format") != "ganlab-models" or not isinstance(entries, list):
            raise ValueError("not a ganlab models file")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise GanlabError(f"{path.name}: cannot read the models file ({err})") from None
    specs = []
    for i, entry in enumerate(entries):
        try:
            specs.append(_spec(entry, (base or {}).get(entry.get("id", ""))))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise GanlabError(f"{path.name}: model entry {i} ({entry.get('id', '?') if isinstance(entry, dict) else '?'})"
                              f" is not valid: {err}") from None
    return specs


def _spec(entry: dict, old: ModelSpec | None) -> ModelSpec:
    if not isinstance(entry.get("id"), str) or not entry["id"]:
        raise ValueError("it has no id")
    fields = {k: entry[k] for k in _FIELDS if k in entry}
    if "resolution" in fields:
        fields["resolution"] = int(fields["resolution"])
    if fields.get("approx_mb") is not None:
        fields["approx_mb"] = float(fields["approx_mb"])
    if not isinstance(fields.get("text_model", ""), str):
        raise ValueError("'text_model' must name a text model, e.g. 'clip-vit-b32'")
    if "files" in entry:
        files = entry["files"]
        if not isinstance(files, list) or not files:
            raise ValueError("'files' must list the model's files")
        fields["files"] = tuple(tuple(_source(s) for s in f["sources"]) for f in files)
        fields["sizes"] = tuple(None if f.get("size") is None else int(f["size"]) for f in files)
        fields["digests"] = tuple(f.get("sha256") or None for f in files)
    if old is not None:
        return replace(old, **fields)
    if "files" not in fields and "bundled" not in fields:
        raise ValueError("a model needs 'files' (where to download it) or 'bundled'")
    return ModelSpec(id=entry["id"], **{"title": entry["id"], "kind": "unknown", "resolution": 0,
                                        "licence": "not stated", **fields})


def _source(source: dict) -> Source:
    if "hub" in source:
        return ("hub", str(source["hub"]), str(source["file"]))
    if "url" in source:
        return ("url", str(source["url"]))
    raise ValueError(f"a source is {{'url': ...}} or {{'hub': ..., 'file': ...}}, not {source}")


def builtin_models() -> dict[str, ModelSpec]:
    """The built-in list, then each file in `GANLAB_MODELS` (paths separated like PATH) over it."""
    specs = {s.id: s for s in read_models(MODELS_FILE)}
    for extra in filter(None, os.environ.get("GANLAB_MODELS", "").split(os.pathsep)):
        specs.update({s.id: s for s in read_models(extra, specs)})
    return specs


@dataclass
class Registry:
    """The models on offer: the built-in list plus what the user added in this process."""

    specs: dict[str, ModelSpec] = field(default_factory=builtin_models)
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
        how = (f"it downloads from {spec.describe_sources()} once the lab is online" if settings.public()
               else "to use it, " + _how_to_get(spec))
        return ModelStatus("missing", f"not on this machine{_size(spec)}, and GANLAB_OFFLINE is set; {how}")
    return ModelStatus("downloadable", f"downloads on first use{_size(spec)} from " + spec.describe_sources())


def download_size(spec: ModelSpec) -> str:
    """'about 296 MB' (exact when the model's sizes are pinned); '' when not known."""
    if spec.sizes and all(size is not None for size in spec.sizes):
        return f"{sum(spec.sizes) / 1e6:.0f} MB"
    return f"about {spec.approx_mb:.0f} MB" if spec.approx_mb else ""


def _size(spec: ModelSpec) -> str:
    size = download_size(spec)
    return f" ({size})" if size else ""


def photo_offer(registry: Registry, spec: ModelSpec) -> str:
    """For a demo model: the real model that would reproduce a photo, and what getting it takes here."""
    real = registry.specs.get(spec.for_photos) if spec.for_photos else None
    if real is None:
        return ""
    state = status(real).state
    if state == "ready":
        return f"{real.id} ({real.title}) is downloaded here: choose it to reproduce photos."
    if state == "downloadable":
        return (f"{real.id} ({real.title}) reproduces photos: choose it to download it once"
                f"{_size(real)}; it is then cached.")
    return (f"{real.id} ({real.title}) would reproduce photos, but it is not on this machine and this lab is "
            "offline, so it cannot be downloaded now.")


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
    paths = fetch_files(spec)
    try:
        model = load_biggan_files(*paths, spec.id) if spec.kind == "biggan" else load_checkpoint(paths[0], name=spec.id)
    except BadCheckpoint:
        for path in paths:
            download.discard(path)  # not a checkpoint: it must not stay in the cache as if it were one
        raise
    if spec.resolution and model.resolution != spec.resolution:
        raise BadCheckpoint(f"'{spec.id}' should be {spec.resolution} px, but its file makes {model.resolution} px")
    if spec.kind == "biggan":
        model.folder = helpers_folder_for(paths[-1])
    return model


def fetch_files(spec: ModelSpec) -> list[Path]:
    """The model's files in the cache, downloaded (and checked against their size and sha256) when
    needed; [] for a bundled model or a local path."""
    hint = _where_to_put(spec) if len(spec.files) > 1 else None  # one file: fetch_first's own advice
    return [download.fetch_first(list(sources), spec.id, hint, size=_nth(spec.sizes, i), sha256=_nth(spec.digests, i))
            for i, sources in enumerate(spec.files)]


def _how_to_get(spec: ModelSpec) -> str:
    """Advice for a model that is not here: run once with network, or place its files by hand."""
    hand = _where_to_put(spec) if len(spec.files) > 1 else download.default_hint(list(spec.files[0]))
    return "run once with network access (unset GANLAB_OFFLINE), or " + hand


def _where_to_put(spec: ModelSpec) -> str:
    """For a model of several files: where each goes by hand (each file's first URL and its cache path)."""
    urls = [next((src[1] for src in sources if src[0] == "url"), None) for sources in spec.files]
    placed = [f"{url} to {download.url_cache_path(url)}" for url in urls if url]
    return ("download " + " and ".join(placed) + ", or list local copies of the files in a models file "
            "(GANLAB_MODELS)") if placed else "list local copies of the files in a models file (GANLAB_MODELS)"


def _nth(values: tuple, i: int):
    return values[i] if i < len(values) else None
