"""Files a finished projection leaves behind, one folder per target image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ganlab.fileio import write_folder_atomically
from ganlab.invert.projector import ProjectionResult
from ganlab.invert.pti import PTIResult
from ganlab.media import write_mp4
from ganlab.models.stylegan2_model import StyleGAN2Model
from ganlab.session import StoredLatent, latent_to_npz_bytes, projected_w_bytes


def stored_latent(result: ProjectionResult, i: int, model_id: str, space: str, name: str,
                  thumbnail: np.ndarray | None = None) -> StoredLatent:
    """Target `i` of a batch result as a session latent (w [1, w_dim] or ws [1, num_ws, w_dim]), with its
    tuned weights when the result is pivotal tuning's."""
    tensor = result.w[i:i + 1] if space == "w" and result.w is not None else result.ws[i:i + 1]
    return StoredLatent(name=name, model_id=model_id, space="w" if tensor.ndim == 2 else "w+", tensor=tensor,
                        thumbnail=thumbnail, metrics=result.metrics[i], source=name,
                        tuned=result.tuned[i] if isinstance(result, PTIResult) else None)


def write_projection(out_dir: Path, name: str, i: int, result: ProjectionResult, target_u8: np.ndarray,
                     frames: list[np.ndarray], model: StyleGAN2Model, model_id: str, space: str,
                     notes: list[str], fps: int = 20) -> Path:
    """latent.npz (ours, with any tuned weights), projected_w.npz (official layout; not for a latent with
    tuned weights, which it cannot hold), noise.npz, target.png, proj.png, proj.mp4 (target | reconstruction
    over the optimisation) and metrics.json, in `out_dir/name/`, written whole: a failure (a full disk)
    leaves what was there before and a one-line `GanlabError`."""
    latent = stored_latent(result, i, model_id, space, name, thumbnail=result.images[i])

    def fill(folder: Path) -> None:
        (folder / "latent.npz").write_bytes(latent_to_npz_bytes(latent))
        if latent.tuned is None:
            (folder / "projected_w.npz").write_bytes(projected_w_bytes(latent, model))
        np.savez_compressed(folder / "noise.npz", **{k: v[i].numpy() for k, v in result.noise.items()})
        Image.fromarray(target_u8).save(folder / "target.png")
        Image.fromarray(result.images[i]).save(folder / "proj.png")
        video = [np.concatenate([target_u8, frame[i]], axis=1) for frame in frames]
        if video:
            write_mp4(video, folder / "proj.mp4", fps=fps)
        info = {"model": model_id, "space": space, "steps_run": result.steps_run, "distance": result.distance_name,
                "stopped": result.stopped, "notes": notes, "metrics": result.metrics[i],
                "history": result.history}
        (folder / "metrics.json").write_text(json.dumps(info, indent=2))

    return write_folder_atomically(out_dir / name, fill, what=f"the projection of {name}")
