"""Prompt assembly for the diffusion engine (template, category words with Korean labels, briefs) and the
swap-source check every candidate passes, on real portraits of tests/data."""
from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from services.generator import prompts
from services.generator.candidate_check import MAX_YAW_RATIO, MIN_EYE_OPENNESS, check_candidate, eye_openness, head_pose
from services.generator.casting import load_keywords
from shared.errors import InvalidInput
from shared.faces import detect_faces
from shared.images import decode_image
from tests.data import DATA_DIR, load_image

SEED_CATEGORIES = {"elegant": "우아한", "innocent": "청초한", "alluring": "퇴폐적인", "graceful": "단아한",
                   "fresh": "청량한"}


@pytest.fixture(scope="module")
def book():
    return prompts.load_word_book()


def test_the_data_file_has_the_five_categories_with_korean_and_english_labels(book):
    assert book.version and set(book.categories) == set(SEED_CATEGORIES)
    for name, korean in SEED_CATEGORIES.items():
        words = book.categories[name]
        assert words.labels["ko"] == korean and words.labels["en"] and words.phrase and words.negative
        assert book.get(korean) is words and book.get(name.upper()) is words


def test_the_template_asks_for_a_swap_ready_portrait(book):
    prompt = prompts.assemble(book)
    for wanted in ("frontal head and shoulders", "neutral expression", "mouth closed", "both eyes", "plain",
                   "soft even light"):
        assert wanted in prompt.prompt
    for unwanted in ("fringe over eyebrows", "glasses", "hands"):
        assert unwanted in prompt.negative_prompt
    assert prompt.categories == [] and prompt.brief is None and prompt.words_version == book.version
    assert prompts.EXCLUSIONS not in prompt.prompt
    without_negative = prompts.assemble(book, uses_negative=False)  # FLUX.1-schnell: the exclusions in the prompt
    assert without_negative.prompt.endswith(prompts.EXCLUSIONS) and "glasses" in without_negative.prompt


def test_a_korean_label_brings_its_phrase_and_negative_phrase(book):
    prompt = prompts.assemble(book, category="퇴폐적인")
    alluring = book.categories["alluring"]
    assert alluring.phrase in prompt.prompt and prompt.negative_prompt.startswith(alluring.negative)
    assert prompt.prompt.index(alluring.phrase) < prompt.prompt.index("frontal head and shoulders")
    with pytest.raises(InvalidInput, match="unknown category 'sporty'.*우아한"):
        prompts.assemble(book, category="sporty")


def test_a_korean_brief_is_mapped_for_encoders_that_do_not_read_korean(book):
    keywords = load_keywords()
    prompt = prompts.assemble(book, brief="청량한 여름 느낌, 단발머리, 보라색 모자", keywords=keywords)
    assert [c["category"] for c in prompt.categories] == ["fresh"]
    assert "summer" in prompt.prompt and "chin-length bob haircut" in prompt.prompt
    assert prompt.brief["unmapped"] == ["보라색", "모자"]  # reported, not passed on as noise
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in prompt.prompt)
    kept = prompts.assemble(book, brief="청량한 여름 느낌", keywords=keywords, reads_korean=True)
    assert "청량한 여름 느낌" in kept.prompt


def test_an_english_brief_passes_as_written_and_names_its_categories(book):
    prompt = prompts.assemble(book, category="elegant", brief="fresh, cool summer; long wavy hair",
                              keywords=load_keywords())
    assert [c["category"] for c in prompt.categories] == ["elegant", "fresh"]
    assert "cool summer" in prompt.prompt and "long wavy hair" in prompt.prompt


def test_a_brief_with_nothing_readable_is_refused_with_what_would_work(book):
    with pytest.raises(InvalidInput, match="no words this engine's text encoder reads"):
        prompts.assemble(book, brief="보라색 모자", keywords=load_keywords())


def test_a_tenants_own_words_win_over_the_data_file(book):
    own = prompts.CategoryWords(name="elegant", phrase="old-money elegance, pearl earrings", negative="logo",
                                source="tenant's own words")
    prompt = prompts.assemble(book, category="elegant", category_words=own)
    assert "pearl earrings" in prompt.prompt and book.categories["elegant"].phrase not in prompt.prompt
    assert prompt.categories[0]["source"] == "tenant's own words"


def test_a_broken_words_file_is_named():
    with pytest.raises(InvalidInput, match="format"):
        prompts.parse_word_book(json.dumps({"categories": {}}).encode())
    with pytest.raises(InvalidInput, match="'elegant' needs a `phrase`"):
        prompts.parse_word_book(json.dumps({"format": prompts.WORDS_FORMAT,
                                            "categories": {"elegant": {"phrase": "x"}}}).encode())


# ---- the candidate check on real portraits ---------------------------------------------------------
def realism(name: str) -> np.ndarray:
    return decode_image((DATA_DIR / "realism" / f"{name}.jpg").read_bytes()).pixels


@pytest.mark.parametrize("name", ["biden", "obama", "khanna", "sewell", "ocasio_cortez"])
def test_real_frontal_portraits_pass(name):
    check = check_candidate(realism(name))
    assert check.passed, check.reasons
    assert check.measures["faces"] == 1 and min(check.measures["eye_openness"]) > MIN_EYE_OPENNESS
    assert abs(check.measures["yaw_ratio"]) < 0.15 and check.measures["sharpness"] > 50


def test_what_makes_a_poor_swap_source_fails_with_its_reason():
    group = check_candidate(load_image("group_three"))
    assert not group.passed and "3 faces found" in group.reasons[0]
    blurred = check_candidate(cv2.GaussianBlur(realism("khanna"), (0, 0), 2.0))
    assert any("blurred" in r for r in blurred.reasons)
    small = check_candidate(load_image("portrait_astronaut"))
    assert any("px wide" in r for r in small.reasons)
    tilted = check_candidate(load_image("rot+30"))
    assert any("tilted" in r for r in tilted.reasons)
    glasses = check_candidate(realism("clyburn"))
    assert glasses.reasons == ["the face wears glasses"]


def test_a_turned_head_measures_past_the_yaw_limit():
    face = detect_faces(realism("khanna"))[0]
    yaw, pitch = head_pose(face)
    assert abs(yaw) < MAX_YAW_RATIO and 0.5 < pitch < 0.65
    points = face.landmarks5.copy()
    points[2, 0] += 0.3 * float(np.linalg.norm(points[1] - points[0]))  # the nose tip a third of the eye distance aside
    assert head_pose(replace(face, landmarks5=points))[0] > MAX_YAW_RATIO


def test_closed_eyes_measure_below_the_bar():
    mesh = np.zeros((478, 2), np.float32)
    for upper, lower, outer, inner in ((159, 145, 33, 133), (386, 374, 263, 362)):
        mesh[outer], mesh[inner] = (0, 0), (30, 0)
        mesh[upper], mesh[lower] = (15, -1), (15, 1)
    assert max(eye_openness(mesh)) < MIN_EYE_OPENNESS
    mesh[145] = (15, 9)
    assert eye_openness(mesh)[0] > MIN_EYE_OPENNESS
