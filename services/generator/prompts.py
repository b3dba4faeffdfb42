"""Prompts for the diffusion engine: a portrait template made for swapping, category words and the brief.

The prompt is `PORTRAIT_SUBJECT, <category phrases>, <brief>, PORTRAIT_FRAMING` and the negative prompt
`<category negative phrases>, NEGATIVE_FRAMING`. The framing words ask for what makes a clean swap
source (the swapper's source checks refuse the rest): a frontal head-and-shoulders view, a neutral
expression with the mouth closed, both eyes visible, nothing over the brows (no fringe, glasses or
hands), a plain background and soft even light.

Category words come from a versioned data file (`category_words.json`: English and Korean labels, a
phrase and a negative phrase per category) or from a tenant's own edited words. A brief is free text;
for text encoders that do not read Korean (CLIP in SD 1.5 / SDXL, CLIP + T5 in FLUX) its non-ASCII
parts are mapped first: category keywords (`brief_keywords.json`, as for the latent engines) bring
their category's words, the data file's `terms` translate common words, and what is left is reported
as `unmapped` rather than passed as text the encoder would read as noise.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.errors import InvalidInput

WORDS_PATH = Path(__file__).with_name("category_words.json")
WORDS_FORMAT = "facecast-category-words-v1"
MAX_PHRASE = 300  # characters of one phrase (a CLIP prompt holds 77 tokens in all)

# Short on purpose: CLIP reads 77 tokens, and the category words and the brief come before the framing.
PORTRAIT_SUBJECT = "studio portrait photo of a person"
PORTRAIT_FRAMING = ("frontal head and shoulders, facing the camera, neutral expression, mouth closed, both eyes "
                    "open, forehead and eyebrows uncovered, plain grey background, soft even light, sharp focus")
# Pipelines without a negative prompt (FLUX.1-schnell runs without classifier-free guidance) get the
# exclusions that matter most for a swap source in the prompt itself.
EXCLUSIONS = "no glasses, no hands, no bangs"
NEGATIVE_FRAMING = ("profile, tilted head, teeth, open mouth, closed eyes, bangs, fringe over eyebrows, hair over "
                    "eyes, glasses, hands, hat, busy background, harsh shadows, blurry, cropped face, two people, "
                    "deformed, cartoon, text, watermark")
_SEGMENT = re.compile(r"[,.;/\n]+")


@dataclass(frozen=True)
class CategoryWords:
    """One category's words: `name` (the id), `labels` ({"en": …, "ko": …}), the prompt phrase and the
    negative phrase, and where they come from (the data file's version, or a tenant's edit)."""
    name: str
    phrase: str
    negative: str
    labels: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def public(self) -> dict:
        return asdict(self)


def check_phrase(text: str, what: str) -> str:
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if len(text) > MAX_PHRASE:
        raise InvalidInput(f"{what} is {len(text)} characters; at most {MAX_PHRASE}")
    return text


@dataclass(frozen=True)
class WordBook:
    """The category words and brief terms of one data-file version."""
    version: str
    categories: dict[str, CategoryWords]
    terms: dict[str, str]

    def find(self, name: str) -> CategoryWords | None:
        """The category whose id or any label is `name` (Unicode NFC, case-insensitive)."""
        wanted = _fold(name)
        for words in self.categories.values():
            if wanted == _fold(words.name) or any(wanted == _fold(label) for label in words.labels.values()):
                return words
        return None

    def get(self, name: str) -> CategoryWords:
        words = self.find(name)
        if words is None:
            known = ", ".join(f"{w.name} ({w.labels.get('ko', '')})" for w in self.categories.values())
            raise InvalidInput(f"unknown category {name!r} for the diffusion engine; categories: {known}",
                               category=name)
        return words


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def parse_word_book(raw: bytes) -> WordBook:
    """A WordBook from the data file's JSON; InvalidInput names what is wrong."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"category words file is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != WORDS_FORMAT:
        raise InvalidInput(f"category words file must have format {WORDS_FORMAT!r}")
    version = str(data.get("version") or "")
    categories = {}
    for name, entry in (data.get("categories") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("phrase"), str) or not isinstance(
                entry.get("negative"), str):
            raise InvalidInput(f"category words: {name!r} needs a `phrase` and a `negative` phrase")
        categories[name] = CategoryWords(name=name, phrase=check_phrase(entry["phrase"], f"{name} phrase"),
                                         negative=check_phrase(entry["negative"], f"{name} negative phrase"),
                                         labels={k: str(v) for k, v in (entry.get("labels") or {}).items()},
                                         source=f"facecast category words {version}")
    terms = {unicodedata.normalize("NFC", k): str(v) for k, v in (data.get("terms") or {}).items()}
    return WordBook(version=version, categories=categories, terms=terms)


def load_word_book(path: Path = WORDS_PATH) -> WordBook:
    return parse_word_book(path.read_bytes())


@dataclass(frozen=True)
class Prompt:
    """The full prompt and negative prompt of a casting, and how they were made (for the report)."""
    prompt: str
    negative_prompt: str
    categories: list[dict]
    brief: dict | None
    words_version: str

    def public(self) -> dict:
        return {"prompt": self.prompt, "negative_prompt": self.negative_prompt, "categories": self.categories,
                "brief": self.brief, "words_version": self.words_version}


def map_brief(brief: str, book: WordBook, keywords: dict[str, list[str]], reads_korean: bool
              ) -> tuple[list[str], list[CategoryWords], dict]:
    """(text parts for the prompt, categories the brief names, what was done) for one brief.

    ASCII segments (split at , . ; / and new lines) are kept as written. Other segments are kept only
    when the encoder reads Korean; otherwise their category keywords and `terms` are mapped to English
    (longest match first, each stretch of text used once) and the rest is reported as `unmapped`."""
    from services.generator.casting import parse_brief

    text = " ".join(unicodedata.normalize("NFC", brief).split())
    named = [book.get(category) for category, _ in parse_brief(text, keywords) if book.find(category)]
    parts: list[str] = []
    mapped: list[dict] = []
    unmapped: list[str] = []
    for segment in (s.strip() for s in _SEGMENT.split(text)):
        if not segment:
            continue
        if segment.isascii() or reads_korean:
            parts.append(segment)
            continue
        rest = _fold(segment)
        vocabulary = [(_fold(word), "") for words in keywords.values() for word in words if not word.isascii()]
        vocabulary += [(_fold(term), english) for term, english in book.terms.items()]
        for term, english in sorted(vocabulary, key=lambda item: -len(item[0])):
            if term and term in rest:
                rest = rest.replace(term, " ", 1)
                mapped.append({"term": term, "english": english or "(category words)"})
                if english:
                    parts.append(english)
        ascii_words = [w for w in rest.split() if w.isascii()]
        parts.extend(ascii_words)
        unmapped += [w for w in rest.split() if not w.isascii() and any(ch.isalpha() for ch in w)]
    report = {"text": brief, "categories": [c.name for c in named], "mapped": mapped, "unmapped": unmapped,
              "encoder_reads_korean": reads_korean}
    return _unique(parts), named, report


def assemble(book: WordBook, *, category: str | None = None, category_words: CategoryWords | None = None,
             brief: str | None = None, keywords: dict[str, list[str]] | None = None,
             reads_korean: bool = False, uses_negative: bool = True) -> Prompt:
    """The prompt for a casting: template + the category's words (a tenant's own `category_words` win over
    the data file's) + every category the brief names + the brief's text (mapped when needed); without a
    negative prompt (`uses_negative` False) the template ends with `EXCLUSIONS`.

    Raises InvalidInput for an unknown category, or a brief that leaves nothing the encoder reads."""
    chosen: list[CategoryWords] = []
    if category_words is not None:
        chosen.append(category_words)
    elif category is not None:
        chosen.append(book.get(category))
    brief_parts: list[str] = []
    brief_report = None
    if brief:
        brief_parts, named, brief_report = map_brief(brief, book, keywords or {}, reads_korean)
        chosen += [c for c in named if c.name not in {w.name for w in chosen}]
        if not brief_parts and not named:
            known = ", ".join(sorted(book.terms)[:12])
            raise InvalidInput(f"the brief {brief!r} has no words this engine's text encoder reads and names no "
                               f"category; write it in English, or use category labels or known words ({known}, …)")
    framing = [PORTRAIT_FRAMING] + ([] if uses_negative else [EXCLUSIONS])
    prompt = ", ".join(_unique([PORTRAIT_SUBJECT, *(c.phrase for c in chosen), *brief_parts, *framing]))
    negative = ", ".join(_unique([*(c.negative for c in chosen), NEGATIVE_FRAMING]))
    return Prompt(prompt=prompt, negative_prompt=negative,
                  categories=[{"category": c.name, "labels": c.labels, "phrase": c.phrase, "negative": c.negative,
                               "source": c.source} for c in chosen],
                  brief=brief_report, words_version=book.version)


def _unique(parts) -> list[str]:
    seen, kept = set(), []
    for part in parts:
        part = part.strip()
        if part and part.casefold() not in seen:
            seen.add(part.casefold())
            kept.append(part)
    return kept
