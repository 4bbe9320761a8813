"""The Edit tab's words section: a slider from a phrase (found or trained), an edit toward a phrase
(StyleCLIP) and pictures from a prompt. The Edit tab lays it out (`declare`) and connects it (`wire`);
every handler only calls the Lab and the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr
import numpy as np

from ganlab.edit.directions import Direction
from ganlab.errors import GanlabError
from ganlab.invert.projector import ProjectionStep
from ganlab.session import StoredLatent
from ganlab.ui.context import AppContext, readable, relay, side_by_side
from ganlab.ui.context import session_id as sid
from ganlab.ui.gpu import gpu

MAX_PROMPT_IMAGES = 6
MIN_TEXT_STEPS, MAX_TEXT_STEPS = 10, 300
MIN_STRENGTH, MAX_STRENGTH = 0.25, 4.0
LEARNED_LABEL = "Learned (shipped + yours)"


@dataclass
class EditHandles:
    """What the section needs of the Edit tab: its controls, and how it redraws the sliders."""

    latent: gr.Dropdown
    source: gr.Radio
    keep: gr.Dropdown
    sliders: list[gr.Slider]
    view: gr.Image
    status: gr.Markdown
    show_sliders: Callable          # (latent name, source label, request) -> slider updates + [view, status]
    refresh: Callable               # (chosen latent, request) -> updates of `refresh_outputs`
    refresh_outputs: list           # the tab's latent dropdowns
    held: Callable                  # (latent, names, request) -> the learned directions a new one must keep


def _progress(rec: ProjectionStep, what: str) -> str:
    terms = " · ".join(f"{k} {v:.3f}" for k, v in rec.losses.items())
    return f"**{what}**: step {rec.step} of {rec.total} · {terms} · about {rec.eta_s:.0f} s left"


def _within(value: float, low: float, high: float, what: str) -> float:
    """A slider's value checked on the server too (a visitor can call the API with any number)."""
    if value is None or not low <= float(value) <= high:
        raise GanlabError(f"{what} must be {low:g} to {high:g}")
    return float(value)


def _reads(lab) -> str:
    return f"Pictures are read by **{lab.text_model_name}**."


@dataclass
class Section:
    """The section's own components."""

    phrase: gr.Textbox
    neutral: gr.Textbox
    add_slider: gr.Button
    train_slider: gr.Button
    strength: gr.Slider
    steps: gr.Slider
    toward: gr.Button
    prompt_images: gr.Button
    stop: gr.Button
    prompt_model: gr.Dropdown
    gallery: gr.Gallery


def declare(ctx: AppContext) -> Section:
    """Lay the section out where it is called (inside the Edit tab's right column)."""
    with gr.Accordion("Describe it in words (CLIP)", open=True):
        phrase = gr.Textbox(label="Phrase", placeholder="a smiling face with sunglasses", max_length=200,
                            elem_id="edit-text")
        neutral = gr.Textbox(label="What every picture shows (neutral phrase; empty: the model's own)",
                             max_length=200, elem_id="edit-text-neutral")
        with gr.Row():
            add_slider = gr.Button("Add a slider for it", elem_id="edit-text-slider")
            train_slider = gr.Button("Train a slider against it (slower)", elem_id="edit-text-train")
        with gr.Row():
            strength = gr.Slider(MIN_STRENGTH, MAX_STRENGTH, value=1, step=0.25, label="Edit strength",
                                 elem_id="edit-text-strength")
            steps = gr.Slider(MIN_TEXT_STEPS, MAX_TEXT_STEPS, value=60, step=10, label="Steps", elem_id="edit-text-steps")
        with gr.Row():
            toward = gr.Button("Edit the latent toward it", variant="primary", elem_id="edit-text-go")
            prompt_images = gr.Button("Pictures of it (from samples)", elem_id="edit-text-prompt")
            stop = gr.Button("Stop", variant="stop", elem_id="edit-text-stop")
        prompt_model = ctx.model_dropdown("stylegan2", "toyfaces-64", label="Model for pictures of a prompt",
                                          elem_id="edit-text-model")
        gallery = gr.Gallery(label="Pictures of the prompt (stored in this session)", columns=MAX_PROMPT_IMAGES,
                             height=180, elem_id="edit-text-gallery")
    return Section(phrase, neutral, add_slider, train_slider, strength, steps, toward, prompt_images, stop,
                   prompt_model, gallery)


def wire(ctx: AppContext, part: Section, tab: EditHandles) -> None:
    """Connect the section's buttons to the Lab's text verbs; results land in the tab's own controls."""
    skips = [gr.skip()] * len(tab.refresh_outputs)

    def chosen(name: str, request: gr.Request) -> StoredLatent:
        if not name:
            raise GanlabError("pick a stored latent first (project an image or add a sample in Session)")
        return ctx.latents(sid(request)).get(name)

    def slider_run(trained: bool, text: str, neutral_text: str, keep_names: list[str], name: str,
                   request: gr.Request):
        """Stream the status while a phrase's direction is found, then show it as the first learned slider."""
        item = chosen(name, request)
        lab = yield from relay(ctx.lab_loading(sid(request), item.model_id),
                               lambda line: (*[gr.skip()] * (len(tab.sliders) + 2), line))
        visit = ctx.visit(sid(request))
        cancel = visit.cancel_event()
        options = dict(keep=tab.held(item, keep_names, request), remember=False, cancel=cancel)
        records = (lab.train_direction_steps(text, **options) if trained else
                   lab.direction_from_text_steps(text, neutral_text or None, **options))
        what = "Training a slider" if trained else "Scoring samples"
        for rec in records:
            if isinstance(rec, Direction):
                visit.keep_learned(item.model_id, rec, lab.model.w_dim)
                shown = tab.show_sliders(name, LEARNED_LABEL, request)
                how = ("trained against the phrase's score" if trained else
                       f"found from {rec.metadata['samples']} scored samples (accuracy {rec.accuracy:.2f})")
                lines = [f"Slider **{rec.name}**: {how}. It is the first slider under *Learned*.", _reads(lab)]
                if rec.metadata.get("conditioned_on"):
                    lines.append(f"Conditioned on {', '.join(rec.metadata['conditioned_on'])}.")
                lines += [f"Warning: {w}" for w in rec.metadata.get("warnings", [])]
                yield (LEARNED_LABEL, *shown[:-1], "\n\n".join(lines))
                return
            yield (gr.skip(), *[gr.skip()] * (len(tab.sliders) + 1), _progress(rec, what))
        yield (gr.skip(), *[gr.skip()] * (len(tab.sliders) + 1), "**Stopped**: no slider was made.")

    @gpu(duration=120)
    @readable
    def find_slider(text, neutral_text, keep_names, name, request: gr.Request):
        yield from slider_run(False, text, neutral_text, keep_names, name, request)

    @gpu(duration=120)
    @readable
    def train_slider_run(text, neutral_text, keep_names, name, request: gr.Request):
        yield from slider_run(True, text, neutral_text, keep_names, name, request)

    @gpu(duration=120)
    @readable
    def edit_toward(text: str, neutral_text: str, power: float, n_steps: float, name: str, request: gr.Request):
        """Stream original | current while the latent moves toward the phrase; store the result (the latent
        being edited stays chosen, so the picture keeps the before and the after side by side)."""
        item = chosen(name, request)
        n_steps = int(_within(n_steps, MIN_TEXT_STEPS, MAX_TEXT_STEPS, "steps"))
        power = _within(power, MIN_STRENGTH, MAX_STRENGTH, "the edit strength")
        lab = yield from relay(ctx.lab_loading(sid(request), item.model_id),
                               lambda line: (gr.skip(), line, *skips))
        cancel = ctx.visit(sid(request)).cancel_event()
        original = np.asarray(lab.render(item))
        for rec in lab.edit_text_steps(item, text, neutral_text or None, steps=n_steps, strength=power,
                                       preview_every=5, cancel=cancel):
            if isinstance(rec, StoredLatent):
                rec.name = f"{item.name} text"
                saved = ctx.store(sid(request), rec)
                stopped = " (stopped early: the steps done are kept)" if rec.metrics["steps"] < n_steps else ""
                lines = [f"Moved toward '{text.strip()}' in {rec.metrics['steps']:.0f} steps{stopped}: "
                         f"{item.name} | the result, stored as **{saved.name}** (choose it above to refine it with "
                         "the sliders).", _reads(lab)]
                yield (side_by_side(original, rec.thumbnail), "\n\n".join(lines), *tab.refresh(name, request))
                return
            picture = gr.skip() if rec.preview is None else side_by_side(original, rec.preview[0])
            yield (picture, _progress(rec, "Editing toward the phrase"), *skips)

    @gpu(duration=120)
    @readable
    def pictures(text: str, model_id: str, n_steps: float, current: str | None, request: gr.Request):
        """Stream the pictures while samples move toward the prompt; store each in the session (the latent
        being edited stays chosen)."""
        n_steps = int(_within(n_steps, MIN_TEXT_STEPS, MAX_TEXT_STEPS, "steps"))
        lab = yield from relay(ctx.lab_loading(sid(request), model_id), lambda line: (gr.skip(), line, *skips))
        cancel = ctx.visit(sid(request)).cancel_event()
        for rec in lab.generate_steps(text, MAX_PROMPT_IMAGES, steps=n_steps, preview_every=5, cancel=cancel):
            if isinstance(rec, list):
                saved = [ctx.store(sid(request), latent) for latent in rec]
                lines = [f"{len(saved)} pictures of '{text.strip()}', stored as "
                         f"{', '.join(f'**{s.name}**' for s in saved)}.", _reads(lab)]
                yield ([s.thumbnail for s in saved], "\n\n".join(lines), *tab.refresh(current, request))
                return
            shown = gr.skip() if rec.preview is None else list(rec.preview)
            yield (shown, _progress(rec, "Moving samples toward the prompt"), *skips)

    def arm(request: gr.Request) -> None:
        ctx.visit(sid(request)).new_cancel()

    def stop_run(request: gr.Request) -> None:
        ctx.visit(sid(request)).cancel()

    run = dict(concurrency_limit=1, concurrency_id="gpu")
    slider_outputs = [tab.source, *tab.sliders, tab.view, tab.status]
    slider_inputs = [part.phrase, part.neutral, tab.keep, tab.latent]
    part.add_slider.click(arm, queue=False).then(find_slider, slider_inputs, slider_outputs,
                                                 show_progress_on=[tab.view], **run)
    part.train_slider.click(arm, queue=False).then(train_slider_run, slider_inputs, slider_outputs,
                                                   show_progress_on=[tab.view], **run)
    part.toward.click(arm, queue=False).then(
        edit_toward, [part.phrase, part.neutral, part.strength, part.steps, tab.latent],
        [tab.view, tab.status, *tab.refresh_outputs], show_progress_on=[tab.view], **run)
    part.prompt_images.click(arm, queue=False).then(
        pictures, [part.phrase, part.prompt_model, part.steps, tab.latent], [part.gallery, tab.status, *tab.refresh_outputs],
        show_progress_on=[part.gallery], **run)
    part.stop.click(stop_run, queue=False)
