"""Edit tab: move a stored latent along directions with sliders; the image follows as they move."""

from __future__ import annotations

import gradio as gr
import numpy as np
import torch
from PIL import Image

from ganlab.edit import LAYER_PRESETS, EditRenderer, layer_indices
from ganlab.edit.directions import Direction
from ganlab.errors import GanlabError
from ganlab.imaging import to_uint8
from ganlab.models.base import W_SPACES
from ganlab.session import StoredLatent
from ganlab.ui import edit_text
from ganlab.ui.context import AppContext, readable, side_by_side, upload_name
from ganlab.ui.context import session_id as sid
from ganlab.ui.gpu import gpu

MAX_SLIDERS = 12
MAX_PHOTOS = 32   # photos a group when a direction is learned from photos in the app (each is inverted)
SOURCE_LABELS = {"Learned (shipped + yours)": "learned", "GANSpace (PCA of w)": "ganspace",
                 "SeFa (closed form)": "sefa"}
LAYER_CHOICES = list(LAYER_PRESETS) + ["custom"]
EDITABLE_SPACES = W_SPACES  # StyleGAN2 latents; BigGAN's z goes to Augment


def directions(ctx: AppContext, session: str, item: StoredLatent, source: str,
               limit: int | None = MAX_SLIDERS) -> list[Direction]:
    """The sliders' directions: for 'learned', the visitor's own first, newest on top (they came for those)."""
    lab = ctx.lab(session, item.model_id)
    found = list(lab.directions_of(source))
    if source == "learned":
        found = ctx.visit(session).learned_for(item.model_id, lab.model.w_dim) + found
    return found[:limit]


def editable_names(ctx: AppContext, session: str) -> list[str]:
    return [i.name for i in ctx.latents(session).items() if i.space in EDITABLE_SPACES]


def _layers(preset: str, start: float, stop: float, num_ws: int) -> list[int] | None:
    return layer_indices((int(start), int(stop)) if preset == "custom" else preset, num_ws)


def edited(renderer: EditRenderer, dirs: list[Direction], alphas: list[float], preset: str,
           start: float, stop: float) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(edited ws, uint8 original | edited picture for display, uint8 edited face at model resolution)."""
    layers = _layers(preset, start, stop, renderer.model.num_ws)
    used = [(d, a) for d, a in zip(dirs, alphas) if a]
    new_ws, img = renderer.render([d for d, _ in used], [a for _, a in used], layers)
    pair = to_uint8(torch.cat([renderer.original, img]))
    return new_ws, side_by_side(pair[0], pair[1]), pair[1]


def paste_into_photo(item: StoredLatent, face: np.ndarray) -> Image.Image:
    """The edited face warped back into the photo it was aligned from, with a feathered edge."""
    if item.origin is None:
        raise GanlabError("this latent did not come from an aligned photo: align a photo, send it to Project, "
                          "and edit the result to paste it back")
    return item.origin.paste_back(face)


def build(ctx: AppContext):
    """Declare the tab; returns (refresh handler, its inputs, its outputs) for when the tab opens."""
    gr.Markdown("Slider units are standard deviations of the latents along each direction. Coarse layers change "
                "pose and shape, middle ones features, fine ones colour and texture.")
    with gr.Row():
        with gr.Column(scale=1):
            latent = gr.Dropdown([], label="Stored latent", elem_id="edit-latent")
            source = gr.Radio(list(SOURCE_LABELS), value=next(iter(SOURCE_LABELS)), label="Directions")
            preset = gr.Radio(LAYER_CHOICES, value="all", label="Layers")
            with gr.Row():
                start = gr.Number(value=0, precision=0, label="from layer")
                stop = gr.Number(value=4, precision=0, label="to layer (exclusive)")
            sliders = [gr.Slider(-5, 5, value=0, step=0.25, label=f"direction {i}", visible=False,
                                 elem_id=f"edit-slider-{i}") for i in range(MAX_SLIDERS)]
            reset = gr.Button("Reset sliders", size="sm")
        with gr.Column(scale=2):
            view = gr.Image(label="Original | edited", type="numpy", interactive=False, elem_id="edit-view")
            status = gr.Markdown(elem_id="edit-status")
            with gr.Row():
                save_name = gr.Textbox(value="edited", label="Save the edit as", elem_id="edit-save-name")
                save = gr.Button("Save as new latent", elem_id="edit-save")
            with gr.Accordion("Paste the edited face back into the original photo", open=False):
                paste_btn = gr.Button("Paste back", elem_id="edit-paste")
                pasted = gr.Image(label="Edited photo", type="pil", interactive=False, elem_id="edit-pasted")
            with gr.Accordion("Learn a direction from two groups: stored latents or photos", open=False):
                group_a = gr.Dropdown([], multiselect=True, label="Group with the attribute", elem_id="edit-group-a")
                group_b = gr.Dropdown([], multiselect=True, label="Group without it", elem_id="edit-group-b")
                new_dir = gr.Textbox(value="my direction", label="Name", elem_id="edit-new-name")
                keep = gr.Dropdown([], multiselect=True, label="Keep these unchanged (conditioning)",
                                   info="Learned directions whose attribute the new one must not move",
                                   elem_id="edit-keep")
                learn = gr.Button("Learn (linear SVM)", elem_id="edit-learn")
                gr.Markdown("Or from photos (aligned faces for a face model), inverted into the chosen latent's "
                            "model first:")
                with gr.Row():
                    photos_a = gr.File(file_count="multiple", file_types=["image"], label="Photos with the attribute",
                                       height=120, elem_id="edit-photos-a")
                    photos_b = gr.File(file_count="multiple", file_types=["image"], label="Photos without it",
                                       height=120, elem_id="edit-photos-b")
                learn_photos = gr.Button("Learn from the photos", elem_id="edit-learn-photos")
            words = edit_text.declare(ctx)

    def current(request: gr.Request, name: str, source_label: str, layer_preset: str, first: float, last: float,
                alphas: tuple[float, ...]):
        """The stored latent the controls point at, and its edit: (item, edited ws, display picture, face)."""
        if not name:
            raise GanlabError("pick a stored latent first (project an image or add a sample in Session)")
        item = ctx.latents(sid(request)).get(name)
        dirs = directions(ctx, sid(request), item, SOURCE_LABELS[source_label])
        renderer = ctx.edit_renderer(sid(request), item)
        return (item, *edited(renderer, dirs, list(alphas[:len(dirs)]), layer_preset, first, last))

    def refresh(chosen: str | None, request: gr.Request):
        """The latent lists, the chosen latent kept (so its sliders keep their values) while it exists."""
        names = editable_names(ctx, sid(request))
        if chosen in names:
            return gr.Dropdown(choices=names), gr.Dropdown(choices=names), gr.Dropdown(choices=names)
        return (gr.Dropdown(choices=names, value=names[-1] if names else None), gr.Dropdown(choices=names),
                gr.Dropdown(choices=names))

    def show_sliders(name: str, source_label: str, request: gr.Request):
        """Relabel the sliders for the chosen latent and source, reset them, render the original."""
        if not name:
            return [gr.Slider(visible=False)] * MAX_SLIDERS + [None, "Project an image or add a sample first."]
        item = ctx.latents(sid(request)).get(name)
        dirs = directions(ctx, sid(request), item, SOURCE_LABELS[source_label])
        _, picture, _ = edited(ctx.edit_renderer(sid(request), item), dirs, [], "all", 0, 0)
        updates = [gr.Slider(visible=i < len(dirs), value=0,
                             label=(f"{dirs[i].name} ({dirs[i].source})" if i < len(dirs) else ""))
                   for i in range(MAX_SLIDERS)]
        note = "" if dirs else "No learned directions for this model yet: learn one below, or use GANSpace / SeFa."
        if item.tuned is not None:
            note = " ".join(filter(None, [note, "This latent was made by pivotal tuning: it and its edits render "
                                                "through its own tuned weights."]))
        return updates + [picture, note]

    @gpu(duration=30)
    @readable
    def setup(name: str, source_label: str, request: gr.Request):
        return show_sliders(name, source_label, request)

    @gpu(duration=30)
    @readable
    def render(request: gr.Request, name: str, source_label: str, layer_preset: str, first: float, last: float,
               *alphas: float):
        if not name:
            return None
        return current(request, name, source_label, layer_preset, first, last, alphas)[2]

    @readable
    def paste(request: gr.Request, name: str, source_label: str, layer_preset: str, first: float, last: float,
              *alphas: float) -> Image.Image:
        item, _, _, face = current(request, name, source_label, layer_preset, first, last, alphas)
        return paste_into_photo(item, face)

    @readable
    def save_edit(request: gr.Request, name: str, source_label: str, layer_preset: str, first: float, last: float,
                  as_name: str, *alphas: float):
        """Store the edit; every latent list of the tab shows it at once (the chosen latent stays)."""
        item, new_ws, _, face = current(request, name, source_label, layer_preset, first, last, alphas)
        saved = ctx.store(sid(request), StoredLatent(as_name, item.model_id, "w+", new_ws.cpu(), thumbnail=face,
                                                      source=f"edit of {name}", origin=item.origin,
                                                      tuned=item.tuned))
        return (f"Saved as **{saved.name}**.", *refresh(name, request))

    def keep_choices(name: str, request: gr.Request):
        """The learned directions of the chosen latent's model: what a new direction can be conditioned on."""
        if not name:
            return gr.Dropdown(choices=[], value=[])
        try:
            item = ctx.latents(sid(request)).get(name)
            names = list(dict.fromkeys(d.name for d in directions(ctx, sid(request), item, "learned", None)))
        except GanlabError:
            names = []
        return gr.Dropdown(choices=names, value=[])

    def held_directions(item: StoredLatent, keep_names: list[str] | None, request: gr.Request) -> list[Direction]:
        """The learned directions (the visitor's and the shipped ones, newest of a name) named in `keep_names`."""
        learned = {d.name: d for d in directions(ctx, sid(request), item, "learned", None)[::-1]}
        missing = sorted(set(keep_names or []) - set(learned))
        if missing:
            raise GanlabError(f"{item.model_id} has no learned direction named {', '.join(missing)} to keep unchanged")
        return [learned[n] for n in keep_names or []]

    def learn_for(item: StoredLatent, pos: list, neg: list, title: str, keep_names: list[str], name: str,
                  source_label: str, request: gr.Request, **options):
        """Learn a direction for `item`'s model (conditioned on `keep_names`), keep it for the visitor, and
        show the sliders again with it on top."""
        model_id = item.model_id
        held = held_directions(item, keep_names, request)
        lab = ctx.lab(sid(request), model_id)
        direction = lab.learn_direction(pos, neg, title or "my direction", keep=held, remember=False, **options)
        ctx.visit(sid(request)).keep_learned(model_id, direction, lab.model.w_dim)
        lines = [f"Learned **{direction.name}**: cross-validated accuracy {direction.accuracy:.2f}."]
        if held:
            lines.append(f"Conditioned on {', '.join(d.name for d in held)}: moving along it leaves their "
                         "boundaries where they are.")
        lines += [f"Warning: {w}" for w in direction.metadata.get("warnings", [])]
        lines.append("It is the first slider under *Learned*.")
        return [*show_sliders(name, source_label, request)[:-1], "\n\n".join(lines)]

    @gpu(duration=30)
    @readable
    def learn_new(a: list[str], b: list[str], title: str, keep_names: list[str], name: str, source_label: str,
                  request: gr.Request):
        """From two groups of stored latents of one model."""
        store = ctx.latents(sid(request))
        pos, neg = [store.get(n) for n in a or []], [store.get(n) for n in b or []]
        if not pos or not neg:
            raise GanlabError("choose at least one latent in each group")
        model_ids = {i.model_id for i in pos + neg}
        if len(model_ids) > 1:
            raise GanlabError(f"all latents must come from one model, not {sorted(model_ids)}")
        return learn_for(pos[0], pos, neg, title, keep_names, name, source_label, request)

    @gpu(duration=120)
    @readable
    def learn_from_photos(a: list[str] | None, b: list[str] | None, title: str, keep_names: list[str], name: str,
                          source_label: str, request: gr.Request):
        """From two groups of photos, inverted first into the model of the latent being edited."""
        if not name:
            raise GanlabError("pick a stored latent first: the direction is learned for its model")
        if not a or not b:
            raise GanlabError("upload at least one photo in each group (20 of each give a usable direction)")
        if max(len(a), len(b)) > MAX_PHOTOS:
            raise GanlabError(f"at most {MAX_PHOTOS} photos a group here; the CLI's learn-direction takes more")
        item = ctx.latents(sid(request)).get(name)
        lab = ctx.lab(sid(request), item.model_id)
        # read one at a time at the model's size (a bad file is named without its server folder)
        pos, neg = ([lab.prepare(p, name=upload_name(p)) for p in group] for group in (a, b))
        return learn_for(item, pos, neg, title, keep_names, name, source_label, request, invert_method="fast")

    controls = [latent, source, preset, start, stop]
    quiet = dict(show_progress="hidden")  # a failure is said in a message, not over the controls
    for trigger in (latent.change, source.change):
        trigger(setup, [latent, source], sliders + [view, status], show_progress_on=[view])
    latent.change(keep_choices, latent, keep, **quiet)
    for component in sliders + [preset, start, stop]:
        component.change(render, controls + sliders, view, trigger_mode="always_last", **quiet)
    reset.click(setup, [latent, source], sliders + [view, status], show_progress_on=[view])
    save.click(save_edit, controls + [save_name] + sliders, [status, latent, group_a, group_b], **quiet)
    paste_btn.click(paste, controls + sliders, pasted, show_progress_on=[pasted])
    learn.click(learn_new, [group_a, group_b, new_dir, keep, latent, source], sliders + [view, status],
                show_progress_on=[view]).success(keep_choices, latent, keep, **quiet)
    learn_photos.click(learn_from_photos, [photos_a, photos_b, new_dir, keep, latent, source], sliders + [view, status],
                       show_progress_on=[view]).success(keep_choices, latent, keep, **quiet)
    edit_text.wire(ctx, words, edit_text.EditHandles(latent, source, keep, sliders, view, status, show_sliders,
                                                      refresh, [latent, group_a, group_b], held_directions))
    return refresh, [latent], [latent, group_a, group_b]
