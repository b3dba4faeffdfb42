"""Pure casting logic: direction fitting, the direction library and its files, briefs, near sampling."""
from __future__ import annotations

import json

import numpy as np
import pytest

from services.generator import casting
from services.generator.casting import (Direction, DirectionLibrary, fit_direction, load_directions, mix_latents,
                                        parse_brief, parse_keywords, sample_near, save_direction)
from shared.errors import InvalidInput, TransientError, WeightsMismatch

SHA_A = "a" * 64
SHA_B = "b" * 64


def _unit(rng, dim):
    v = rng.normal(size=dim)
    return v / np.linalg.norm(v)


def _top_bottom(latents, direction, count):
    order = np.argsort(latents @ direction)
    return latents[order[-count:]], latents[order[:count]]


def test_planted_direction_is_recovered_in_isotropic_z_space():
    """The demo engine's z space: N(0, I) in 100 dimensions; a seller marks the 200 faces that show the
    planted attribute most as fitting and the 200 that show it least as not fitting."""
    rng = np.random.default_rng(1)
    planted = _unit(rng, 100)
    fitting, not_fitting = _top_bottom(rng.normal(size=(2000, 100)), planted, 200)
    fit = fit_direction(fitting, not_fitting)
    cosine = float(fit.vector @ planted)
    print(f"isotropic z: cosine {cosine:.3f}, default strength {fit.default_strength:.2f}")
    assert cosine >= 0.9
    assert np.isclose(np.linalg.norm(fit.vector), 1.0, atol=1e-6)
    assert fit.training_accuracy > 0.95
    assert fit.default_strength > 0  # moves a non-fitting face toward the fitting ones


def test_planted_direction_is_recovered_in_anisotropic_space_where_mean_difference_fails():
    """W-like latents whose variances span 30×: the difference of class means leans toward the
    high-variance axes; LDA's whitening undoes that."""
    rng = np.random.default_rng(2)
    dim = 64
    basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    latents = (rng.normal(size=(6000, dim)) * np.geomspace(3.0, 0.1, dim)) @ basis.T
    planted = _unit(rng, dim)
    fitting, not_fitting = _top_bottom(latents, planted, 600)
    fit = fit_direction(fitting, not_fitting)
    mean_difference = fitting.mean(0) - not_fitting.mean(0)
    naive = float(mean_difference @ planted / np.linalg.norm(mean_difference))
    print(f"anisotropic: LDA cosine {fit.vector @ planted:.3f}, mean-difference cosine {naive:.3f}")
    assert fit.vector @ planted >= 0.9
    assert naive < 0.9


def test_moving_along_the_fitted_direction_raises_the_planted_score_monotonically():
    rng = np.random.default_rng(3)
    planted = _unit(rng, 100)
    fit = fit_direction(*_top_bottom(rng.normal(size=(2000, 100)), planted, 200))
    start = rng.normal(size=100)
    scores = [float((start + t * fit.vector) @ planted) for t in np.linspace(-4, 4, 9)]
    assert all(b > a for a, b in zip(scores, scores[1:]))


def test_ten_examples_each_is_the_minimum():
    rng = np.random.default_rng(4)
    fit = fit_direction(rng.normal(size=(10, 32)) + 1.0, rng.normal(size=(10, 32)) - 1.0)
    assert fit.vector.shape == (32,)
    assert fit.vector.sum() > 0  # the planted offset is (1, 1, …, 1)
    with pytest.raises(InvalidInput, match="at least 10 fitting and 10 non-fitting.*got 9 and 10"):
        fit_direction(rng.normal(size=(9, 32)), rng.normal(size=(10, 32)))


@pytest.mark.parametrize("pos, neg, message", [
    (np.zeros((10, 8)), np.zeros((10, 9)), "differ in dimension: 8 vs 9"),
    (np.zeros(10), np.zeros((10, 8)), "expected a list of latent vectors"),
    (np.full((10, 8), np.nan), np.zeros((10, 8)), "NaN"),
    (np.ones((10, 8)), np.ones((10, 8)), "same mean"),
])
def test_bad_examples_are_refused(pos, neg, message):
    with pytest.raises(InvalidInput, match=message):
        fit_direction(pos, neg)


def test_library_refuses_a_direction_of_the_wrong_dimension():
    library = DirectionLibrary(512, SHA_A)
    with pytest.raises(InvalidInput, match="dimension 100; this engine's latents have dimension 512"):
        library.add(Direction("elegant", np.ones(100), 1.0))
    with pytest.raises(InvalidInput, match="zero"):
        library.add(Direction("elegant", np.zeros(512), 1.0))
    with pytest.raises(InvalidInput, match="category name"):
        library.add(Direction("no spaces", np.ones(512), 1.0))


def test_library_steering_sums_directions_and_names_unknown_categories():
    library = DirectionLibrary(4, SHA_A)
    library.add(Direction("elegant", np.array([2.0, 0, 0, 0]), 1.5))
    library.add(Direction("fresh", np.array([0, 1.0, 0, 0]), 0.5))
    offset, applied = library.steering([("elegant", None), ("fresh", -2.0)])
    np.testing.assert_allclose(offset, [1.5, -2.0, 0, 0])
    assert applied == [{"category": "elegant", "strength": 1.5}, {"category": "fresh", "strength": -2.0}]
    with pytest.raises(InvalidInput, match="unknown category 'alluring'.*known categories: elegant, fresh"):
        library.steering([("alluring", None)])


def test_library_files_round_trip_and_detect_a_torn_update():
    library = DirectionLibrary(3, SHA_A)
    library.add(Direction("우아한", np.array([0, 3.0, 4.0]), 2.0, "taught"))
    library.add(Direction("fresh", np.array([1.0, 0, 0]), 0.7))
    meta, vectors = library.to_files()
    again = DirectionLibrary.from_files(meta, vectors)
    assert again.names() == library.names() and again.dim == 3 and again.weights_sha256 == SHA_A
    np.testing.assert_allclose(again.get("우아한").vector, [0, 0.6, 0.8], atol=1e-7)
    assert again.get("우아한").source == "taught"
    _, other_vectors = DirectionLibrary(3, SHA_A, {"x": Direction("x", np.ones(3), 1.0)}).to_files()
    with pytest.raises(TransientError, match="different versions"):
        DirectionLibrary.from_files(meta, other_vectors)


def test_directions_are_saved_per_weights_in_the_model_store_with_hashes(store):
    assert load_directions(store, "w1", SHA_A, 8).names() == []
    save_direction(store, "w1", SHA_A, 8, Direction("elegant", np.eye(8)[0], 1.0, "test"))
    save_direction(store, "w1", SHA_A, 8, Direction("fresh", np.eye(8)[1], 2.0, "test"))
    records = store.records()
    assert {"directions.w1", "directions.w1.vectors"} <= set(records)
    assert all(len(records[n].sha256) == 64 for n in ("directions.w1", "directions.w1.vectors"))
    library = load_directions(store, "w1", SHA_A, 8)
    assert library.names() == ["elegant", "fresh"]
    assert load_directions(store, "w2", SHA_A, 8).names() == []  # other weights, other categories
    with pytest.raises(WeightsMismatch, match="fitted on weights aaaaaaaaaaaa"):
        load_directions(store, "w1", SHA_B, 8)
    with pytest.raises(InvalidInput, match="dimension 8; the engine's latents have dimension 16"):
        load_directions(store, "w1", SHA_A, 16)


def test_default_brief_keywords_cover_the_korean_labels():
    keywords = casting.load_keywords()
    cases = {
        "fresh, cool, summer": ["fresh"],
        "우아한 느낌": ["elegant"],
        "청초한 얼굴": ["innocent"],
        "퇴폐적인 분위기": ["alluring"],
        "단아한 스타일": ["graceful"],
        "청량한 여름": ["fresh"],
        "청량하고 우아하게, but also innocent": ["fresh", "elegant", "innocent"],
        "ELEGANT and Fresh": ["elegant", "fresh"],
    }
    for brief, expected in cases.items():
        assert [c for c, _ in parse_brief(brief, keywords)] == expected, brief


def test_ascii_keywords_match_whole_words_only():
    keywords = casting.load_keywords()
    assert parse_brief("coolant purely for chicken", keywords) == []
    assert parse_brief("a cool look", keywords) == [("fresh", "cool")]


def test_operator_keywords_from_the_model_store_replace_the_defaults(store, tmp_path):
    path = tmp_path / "keywords.json"
    path.write_text(json.dumps({"categories": {"sporty": ["athletic", "스포티"]}}), encoding="utf-8")
    store.import_file(casting.KEYWORDS_RECORD, path, licence="operator", commercial_use=True, source="test")
    keywords = casting.load_keywords(store)
    assert keywords == {"sporty": ["athletic", "스포티"]}
    assert parse_brief("스포티한 느낌", keywords) == [("sporty", "스포티")]
    assert parse_brief("elegant", keywords) == []


@pytest.mark.parametrize("raw", [b"not json", b'{"cats": {}}', b'{"categories": {"x": "not a list"}}',
                                 b'{"categories": {"bad name": ["a"]}}'])
def test_bad_keyword_files_are_refused(raw):
    with pytest.raises(InvalidInput, match="keywords"):
        parse_keywords(raw)


def test_sample_near_interpolates_between_the_anchor_and_a_random_face():
    rng = np.random.default_rng(5)
    center = np.zeros(100, np.float32)
    anchor, other = rng.normal(size=100).astype(np.float32), rng.normal(size=100).astype(np.float32)
    assert np.array_equal(sample_near(anchor, other, center, 0.0), anchor)
    np.testing.assert_allclose(sample_near(anchor, other, center, 1.0), other, atol=1e-6)
    distances = [np.linalg.norm(sample_near(anchor, other, center, s) - anchor) for s in (0.1, 0.3, 0.6, 0.9)]
    assert all(b > a for a, b in zip(distances, distances[1:]))
    with pytest.raises(InvalidInput, match="spread"):
        sample_near(anchor, other, center, 1.5)


def test_sample_near_keeps_faces_typical_instead_of_drifting_to_the_average():
    """For independent N(0, I) anchor and random face, the result is again N(0, I): same mean norm²."""
    rng = np.random.default_rng(6)
    center = np.zeros(100, np.float32)
    samples = np.stack([sample_near(rng.normal(size=100), rng.normal(size=100), center, 0.5) for _ in range(400)])
    assert abs((samples ** 2).sum(1).mean() / 100 - 1.0) < 0.05


def test_mix_latents_blends_two_faces():
    a, b = np.zeros(4, np.float32), np.ones(4, np.float32)
    np.testing.assert_allclose(mix_latents(a, b, 0.25), np.full(4, 0.25))
    with pytest.raises(InvalidInput, match="mix"):
        mix_latents(a, b, -0.1)
