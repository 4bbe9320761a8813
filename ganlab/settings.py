"""Where weights are cached and whether the network may be used (GANLAB_CACHE, GANLAB_OFFLINE)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Folder for downloaded weights; `GANLAB_CACHE` overrides the default under the user's cache."""
    env = os.environ.get("GANLAB_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganlab"
    base.mkdir(parents=True, exist_ok=True)
    return base


def offline() -> bool:
    """True when `GANLAB_OFFLINE` (or Hugging Face's own `HF_HUB_OFFLINE`) forbids network access."""
    for name in ("GANLAB_OFFLINE", "HF_HUB_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}:
            return True
    return False


def assets_dir() -> Path:
    """The `assets/` folder that ships with the project (bundled demo models and data)."""
    return Path(__file__).resolve().parent.parent / "assets"


PUBLIC_HOSTS = ("huggingface.co", "hf.co", "nvlabs-fi-cdn.nvidia.com")  # hf.co: where the hub's files redirect


def public() -> bool:
    """True when the app serves anonymous visitors: on a Hugging Face Space (`SPACE_ID`) or `GANLAB_PUBLIC=1`."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("GANLAB_PUBLIC", "").strip().lower() in {
        "1", "true", "yes", "on"}


def public_hosts() -> tuple[str, ...]:
    """Hosts a public app may fetch checkpoints from: the hub, NVIDIA's CDN, and the operator's own
    (`GANLAB_ALLOWED_HOSTS`, comma-separated); visitors cannot extend it."""
    extra = [h.strip().lower() for h in os.environ.get("GANLAB_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return PUBLIC_HOSTS + tuple(extra)


def host_allowed(host: str | None) -> bool:
    """Whether a public app may fetch from `host`: one of `public_hosts()` or a subdomain of one."""
    host = (host or "").lower().rstrip(".")
    return bool(host) and any(host == h or host.endswith("." + h) for h in public_hosts())


def max_upload_mb() -> int:
    """The largest file a visitor may upload: `GANLAB_MAX_UPLOAD_MB`, else 100 MB (a 6000x4000 photo as PNG
    fits; so do 256-px StyleGAN2 checkpoints, while a 1024-px one needs about 400)."""
    given = os.environ.get("GANLAB_MAX_UPLOAD_MB", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else 100


def max_download_bytes() -> int | None:
    """The largest checkpoint download allowed: `GANLAB_MAX_DOWNLOAD_MB`, else 4 GB in public mode (the real
    models are a few hundred MB), else no limit."""
    given = os.environ.get("GANLAB_MAX_DOWNLOAD_MB", "").strip()
    if given.isdigit():
        return int(given) << 20
    return 4096 << 20 if public() else None


def state_dir() -> Path:
    """Where the app keeps visitors' saved latents between restarts: `GANLAB_STATE`, else under the cache."""
    env = os.environ.get("GANLAB_STATE")
    return Path(env) if env else cache_dir() / "sessions"


def browser_secret() -> str:
    """The key the app encrypts the token kept in visitors' browsers with: `GANLAB_BROWSER_SECRET`, else
    one made once and kept in the state folder (a new key each start would orphan every saved session)."""
    env = os.environ.get("GANLAB_BROWSER_SECRET")
    if env:
        return env
    path = state_dir() / "browser-secret"
    try:
        return path.read_text().strip()
    except OSError:
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(key)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path.read_text().strip()


def session_idle_seconds() -> float:
    """How long the app keeps an idle visitor's in-memory state: `GANLAB_SESSION_IDLE_S`, default 6 hours."""
    given = os.environ.get("GANLAB_SESSION_IDLE_S", "").strip()
    try:
        return float(given) if given else 6 * 3600.0
    except ValueError:
        return 6 * 3600.0


def upload_cache_seconds() -> float:
    """How long Gradio keeps uploads and outputs: `GANLAB_UPLOAD_CACHE_S`, default a day."""
    given = os.environ.get("GANLAB_UPLOAD_CACHE_S", "").strip()
    try:
        return max(10.0, float(given)) if given else 24 * 3600.0
    except ValueError:
        return 24 * 3600.0
