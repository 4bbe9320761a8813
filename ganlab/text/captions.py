"""Captions from the renderers' exact labels, and which images each caption is true of.

A caption is text plus the claims it makes ("a bald face, smiling": bald, smiling). Because the
renderers know every image's facts exactly, `match_matrix` says for any batch which images satisfy
every claim of which caption; the toy CLIP trains against that matrix (many images fit "a smiling
face"), not against the one image each caption was written for. Captions vary in wording, order,
synonyms and negations because users type free phrases.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

import numpy as np

from ganlab.data.toyfaces import HAIR_COLORS, HAIR_STYLES, SKIN_TONES, FaceAttrs
from ganlab.data.toyobjects import CLASS_NAMES, ObjectAttrs

DOMAINS = ("faces", "objects")


@dataclass(frozen=True)
class Claim:
    """That `fact` (a key of `face_facts` / `object_facts`) holds, or with `holds=False` that it does not."""

    fact: str
    holds: bool = True


@dataclass(frozen=True)
class Caption:
    """A phrase about one domain ('faces' or 'objects') and the claims it makes; no claims: any image of it."""

    text: str
    domain: str
    claims: tuple[Claim, ...] = ()


def face_facts(a: FaceAttrs) -> dict[str, bool]:
    """What a face shows. Hair colour counts only where there is hair (a bald head's tufts do not)."""
    style = HAIR_STYLES[a.hair_style]
    facts = {
        "smile": a.smile > 0,
        "sunglasses": a.sunglasses,
        "eyeglasses": a.eyeglasses,
        "glasses": a.sunglasses or a.eyeglasses,
        "beard": a.beard,
        "bald": style == "bald",
        "long_hair": style == "long",
        "short_hair": style == "short",
        "dark_skin": a.skin >= len(SKIN_TONES) - 2,
    }
    for k, name in enumerate(HAIR_COLORS):
        facts[f"hair_{name}"] = a.hair_color == k and style != "bald"
    return facts


def color_name(rgb: tuple[int, int, int]) -> str:
    """A basic colour word for an object's colour (the renderer's, before shading)."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if s < 0.22:
        return "white" if v > 0.78 else "grey"
    if h < 0.1 and v < 0.66:
        return "brown"
    for bound, name in ((0.04, "red"), (0.105, "orange"), (0.18, "yellow"), (0.45, "green"), (0.55, "cyan"),
                        (0.72, "blue"), (0.86, "purple"), (0.97, "pink")):
        if h < bound:
            return name
    return "red"


OBJECT_COLORS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "white", "grey")


def object_facts(a: ObjectAttrs) -> dict[str, bool]:
    """Which class an object is and which colour it has."""
    facts = {f"cls_{name}": a.cls == k for k, name in enumerate(CLASS_NAMES)}
    colour = color_name(a.color)
    facts.update({f"color_{c}": c == colour for c in OBJECT_COLORS})
    return facts


FACT_NAMES: tuple[str, ...] = (
    "smile", "sunglasses", "eyeglasses", "glasses", "beard", "bald", "long_hair", "short_hair", "dark_skin",
    *(f"hair_{c}" for c in HAIR_COLORS), *(f"cls_{n}" for n in CLASS_NAMES), *(f"color_{c}" for c in OBJECT_COLORS))


# --- wording ----------------------------------------------------------------------------------------
# For each (fact, holds): words before the noun ("adj"), after it ("with"), or after a comma ("trail").

_HAIR_WORDS = {"black": ["black", "dark", "jet black"], "brown": ["brown", "brunette", "chestnut"],
               "blond": ["blond", "blonde", "golden", "yellow"], "red": ["red", "ginger", "auburn", "orange"],
               "grey": ["grey", "gray", "silver", "white"]}
_HAIR_ADJ = {"black": ["black-haired", "dark-haired"], "brown": ["brown-haired", "brunette"],
             "blond": ["blond", "blonde", "blond-haired"], "red": ["red-haired", "redheaded", "ginger"],
             "grey": ["grey-haired", "gray-haired", "white-haired"]}

_FACE_WORDING: dict[tuple[str, bool], dict[str, list[str]]] = {
    ("smile", True): {"adj": ["smiling", "grinning", "happy", "cheerful", "laughing"],
                      "with": ["with a smile", "with a big smile", "with a grin", "with an open smile"],
                      "trail": ["smiling", "grinning", "looking happy"]},
    ("smile", False): {"adj": ["frowning", "sad", "unhappy", "grumpy", "serious", "unsmiling"],
                       "with": ["with a frown", "without a smile", "with no smile", "with a sad mouth"],
                       "trail": ["not smiling", "frowning", "looking sad", "not happy"]},
    ("sunglasses", True): {"with": ["with sunglasses", "wearing sunglasses", "with shades", "with dark glasses",
                                    "in sunglasses"],
                           "trail": ["wearing sunglasses", "wearing shades"]},
    ("sunglasses", False): {"with": ["without sunglasses", "with no sunglasses", "not wearing sunglasses"],
                            "trail": ["no sunglasses", "not wearing sunglasses"]},
    ("eyeglasses", True): {"with": ["with glasses", "with eyeglasses", "wearing glasses", "with spectacles",
                                    "with clear glasses", "with reading glasses", "in glasses"],
                           "trail": ["wearing glasses", "wearing eyeglasses", "wearing spectacles"]},
    ("eyeglasses", False): {"with": ["without eyeglasses", "with no eyeglasses", "without spectacles"],
                            "trail": ["no eyeglasses"]},
    ("glasses", False): {"with": ["without glasses", "with no glasses", "not wearing glasses"],
                         "trail": ["no glasses", "not wearing glasses"]},
    ("beard", True): {"adj": ["bearded"],
                      "with": ["with a beard", "with facial hair", "with a full beard", "with a thick beard"],
                      "trail": ["bearded", "with a beard"]},
    ("beard", False): {"adj": ["clean-shaven", "beardless", "shaven"],
                       "with": ["without a beard", "with no beard", "with no facial hair"],
                       "trail": ["clean-shaven", "no beard"]},
    ("bald", True): {"adj": ["bald", "hairless", "bald-headed"],
                     "with": ["with no hair", "with a bald head", "with a shaved head"],
                     "trail": ["bald"]},
    ("bald", False): {"with": ["with hair", "with a full head of hair"], "trail": ["not bald"]},
    ("long_hair", True): {"adj": ["long-haired"], "with": ["with long hair", "with hair to the shoulders"]},
    ("short_hair", True): {"adj": ["short-haired"], "with": ["with short hair", "with a short haircut"]},
    ("dark_skin", True): {"adj": ["dark-skinned"], "with": ["with dark skin", "with brown skin", "with deep skin"]},
    ("dark_skin", False): {"adj": ["light-skinned", "pale", "fair-skinned"],
                           "with": ["with light skin", "with pale skin", "with fair skin"]},
}
for _name in HAIR_COLORS:
    _FACE_WORDING[(f"hair_{_name}", True)] = {"adj": _HAIR_ADJ[_name],
                                               "with": [f"with {w} hair" for w in _HAIR_WORDS[_name]]}

_FACE_NOUNS = ["face", "face", "person", "portrait", "head", "character", "cartoon face"]
_PREFIXES = ["a", "a", "a", "a cartoon", "a picture of a", "a photo of a", "a drawing of a", "an image of a",
             "a toy", "the"]
_OBJECT_NOUNS = {"disc": ["disc", "disk", "circle", "dot"], "square": ["square", "box"],
                 "triangle": ["triangle"], "star": ["star"], "ring": ["ring", "donut", "hoop"],
                 "cross": ["cross", "plus sign", "plus"], "heart": ["heart"],
                 "crescent": ["crescent", "crescent moon", "moon"], "arrow": ["arrow"],
                 "house": ["house", "home", "hut"]}
_OBJECT_COLOR_WORDS = {"grey": ["grey", "gray"], "pink": ["pink", "magenta"], "cyan": ["cyan", "teal", "turquoise"]}


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _with_article(text: str) -> str:
    """'a apple' -> 'an apple', and single spaces."""
    text = re.sub(r"\s+", " ", text).strip().replace(" ,", ",")
    return re.sub(r"\ba ([aeiou])", r"an \1", text)


def _join_withs(rng: np.random.Generator, withs: list[str]) -> str:
    """'with a beard and with glasses' or, half the time, 'with a beard, glasses and a smile'."""
    if len(withs) < 2 or rng.random() < 0.5:
        return (" and " if rng.random() < 0.6 else ", ").join(withs)
    rest = [w.removeprefix("with ") for w in withs[1:]]
    return ", ".join([withs[0], *rest[:-1]]) + " and " + rest[-1]


def _face_candidates(facts: dict[str, bool]) -> list[tuple[Claim, float]]:
    """True claims one could make about a face, each with how often a caption makes it."""
    out = [(Claim("smile", facts["smile"]), 1.0)]
    for name in ("sunglasses", "eyeglasses"):
        out.append((Claim(name, facts[name]), 1.2 if facts[name] else 0.3))
    if not facts["glasses"]:
        out.append((Claim("glasses", False), 0.3))
    out.append((Claim("beard", facts["beard"]), 1.0 if facts["beard"] else 0.4))
    if facts["bald"]:
        out.append((Claim("bald"), 1.2))
    else:
        out.append((Claim("bald", False), 0.15))
        out.append((Claim("long_hair" if facts["long_hair"] else "short_hair"), 0.7))
        colour = next(c for c in HAIR_COLORS if facts[f"hair_{c}"])
        out.append((Claim(f"hair_{colour}"), 1.0))
    out.append((Claim("dark_skin", facts["dark_skin"]), 0.6))
    return out


def _choose(rng: np.random.Generator, candidates: list[tuple[Claim, float]], k: int) -> list[Claim]:
    weights = np.array([w for _, w in candidates])
    idx = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False, p=weights / weights.sum())
    return [candidates[i][0] for i in idx]


def _merged_hair(rng: np.random.Generator, claims: list[Claim]) -> tuple[str, list[Claim]] | None:
    """'with long black hair' for a length and a colour claim together (most of the time)."""
    length = next((c for c in claims if c.fact in ("long_hair", "short_hair")), None)
    colour = next((c for c in claims if c.fact.startswith("hair_")), None)
    if length is None or colour is None or rng.random() < 0.3:
        return None
    words = _pick(rng, _HAIR_WORDS[colour.fact[len("hair_"):]])
    return f"with {length.fact.split('_')[0]} {words} hair", [length, colour]


def _face_text(claims: list[Claim], rng: np.random.Generator) -> str:
    """Word `claims` about a face: each as an adjective, a 'with ...' phrase or a trailing ', ...', in random order."""
    adjs: list[str] = []
    withs: list[str] = []
    trail: list[str] = []
    merged = _merged_hair(rng, claims)
    rest = claims
    if merged is not None:
        withs.append(merged[0])
        rest = [c for c in claims if c not in merged[1]]
    for claim in rest:
        wording = _FACE_WORDING[(claim.fact, claim.holds)]
        slots = [s for s in ("adj", "with", "trail") if s in wording]
        slot = slots[int(rng.integers(len(slots)))]
        if slot == "adj" and len(adjs) >= 2 or slot == "trail" and trail:
            slot = "with"
        {"adj": adjs, "with": withs, "trail": trail}[slot].append(_pick(rng, wording[slot]))
    rng.shuffle(withs)
    if claims and rng.random() < 0.12:  # a bare phrase, as typed into a search box: "sunglasses, smiling"
        return _with_article(", ".join(adjs + [w.removeprefix("with ") for w in withs] + trail))
    text = f"{_pick(rng, _PREFIXES)} {' '.join(adjs)} {_pick(rng, _FACE_NOUNS)} {_join_withs(rng, withs)}"
    if trail:
        text += f", {trail[0]}"
    return _with_article(text)


def face_caption(attrs: FaceAttrs, rng: np.random.Generator) -> Caption:
    """A random true caption of a face: 0-4 of its facts, present ones more often than absent ones."""
    k = int(rng.choice(5, p=[0.05, 0.35, 0.3, 0.2, 0.1]))
    claims = _choose(rng, _face_candidates(face_facts(attrs)), k)
    return Caption(_face_text(claims, rng), "faces", tuple(claims))


def _object_text(claims: list[Claim], rng: np.random.Generator) -> str:
    name = next((c.fact[len("cls_"):] for c in claims if c.fact.startswith("cls_")), None)
    colour = next((c.fact[len("color_"):] for c in claims if c.fact.startswith("color_")), None)
    noun = _pick(rng, _OBJECT_NOUNS[name]) if name else _pick(rng, ["shape", "object", "thing"])
    adj = _pick(rng, _OBJECT_COLOR_WORDS.get(colour, [colour])) if colour else ""
    if name and colour and rng.random() < 0.25:
        return _with_article(f"{_pick(rng, _PREFIXES)} {noun} in {adj}")
    return _with_article(f"{_pick(rng, _PREFIXES)} {adj} {noun}")


def object_caption(attrs: ObjectAttrs, rng: np.random.Generator) -> Caption:
    """A random true caption of an object: its class, its colour, or both ('a red star', 'a green shape')."""
    name, colour = attrs.class_name, color_name(attrs.color)
    with_class, with_colour = [(True, False), (True, True), (True, True), (False, True)][int(rng.integers(4))]
    claims = ([Claim(f"cls_{name}")] if with_class else []) + ([Claim(f"color_{colour}")] if with_colour else [])
    return Caption(_object_text(claims, rng), "objects", tuple(claims))


_HAIR_FACTS = [f"hair_{c}" for c in HAIR_COLORS]
_CLASS_FACTS = [f"cls_{name}" for name in CLASS_NAMES]
_COLOR_FACTS = [f"color_{c}" for c in OBJECT_COLORS]


def _flip(claim: Claim, rng: np.random.Generator) -> Claim:
    """A claim that contradicts `claim`: the opposite of a yes/no fact, another hair colour, class or colour."""
    for group in (_HAIR_FACTS, _CLASS_FACTS, _COLOR_FACTS, ["long_hair", "short_hair"]):
        if claim.fact in group:
            return Claim(_pick(rng, [f for f in group if f != claim.fact]))
    if claim.fact == "glasses":
        return Claim(_pick(rng, ["eyeglasses", "sunglasses"]))
    return Claim(claim.fact, not claim.holds)


def counterfactual(caption: Caption, rng: np.random.Generator) -> Caption | None:
    """The caption with one claim contradicted and reworded ("a bald face, smiling" -> "a bald face with a
    frown"): a hard negative that differs from a true caption in one fact only; None for a caption without
    claims."""
    if not caption.claims:
        return None
    claims = list(caption.claims)
    k = int(rng.integers(len(claims)))
    claims[k] = _flip(claims[k], rng)
    claims = list(dict.fromkeys(claims))
    text = _face_text(claims, rng) if caption.domain == "faces" else _object_text(claims, rng)
    return Caption(text, caption.domain, tuple(claims))


def match_matrix(domains: list[str], facts: list[dict[str, bool]], captions: list[Caption]) -> np.ndarray:
    """bool [images, captions]: image i (of `domains[i]`, with `facts[i]`) satisfies every claim of caption j."""
    out = np.zeros((len(facts), len(captions)), bool)
    for j, cap in enumerate(captions):
        for i, (domain, f) in enumerate(zip(domains, facts)):
            out[i, j] = domain == cap.domain and all(f[c.fact] == c.holds for c in cap.claims)
    return out


# --- probes: a phrase and its opposite per attribute, for zero-shot checks ------------------------------

FACE_PROBES: dict[str, tuple[str, str]] = {
    "smile": ("a smiling face", "a frowning face"),
    "sunglasses": ("a face with sunglasses", "a face without sunglasses"),
    "eyeglasses": ("a face with eyeglasses", "a face without eyeglasses"),
    "beard": ("a face with a beard", "a clean-shaven face"),
    "bald": ("a bald face", "a face with hair"),
    "long_hair": ("a face with long hair", "a face with short hair"),
    "dark_skin": ("a face with dark skin", "a face with light skin"),
}
HAIR_PROBES: dict[str, str] = {c: f"a face with {c} hair" for c in HAIR_COLORS}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def vocabulary() -> list[str]:
    """Every word a caption can contain, sorted: the toy CLIP's fixed vocabulary."""
    texts: list[str] = [*_PREFIXES, *_FACE_NOUNS, "and", "shape object thing in with"]
    for wording in _FACE_WORDING.values():
        texts += [t for options in wording.values() for t in options]
    for words in (*_HAIR_WORDS.values(), *_OBJECT_NOUNS.values(), *_OBJECT_COLOR_WORDS.values()):
        texts += words
    texts += ["long short hair", *OBJECT_COLORS, *(p for pair in FACE_PROBES.values() for p in pair)]
    return sorted({w for t in texts for w in _words(t)})
