"""The pure pieces behind scoring (ml.scoring) against the reference implementations they must agree with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.formats import get_format
from ml.model import LogActionNet, ModelConfig
from ml.parsing import Masker, TemplateParser
from ml.reading import iter_records
from ml.scoring import (
    FastScorer, LineFormatError, TemplateMatcher, digit_blind, distinct_per_window, fixed_windows_of,
    lines_of_templates, ranked_templates, read_contents, session_windows_of,
)
from ml.synthetic import generate
from ml.training import ModelBundle, score
from ml.windowing import fixed_windows, session_windows


def bundle_of(layers: int, rows: int = 40, seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    table = np.random.default_rng(seed).standard_normal((rows, 24)).astype(np.float32)
    table[0] = 0
    config = ModelConfig(hidden=16, layers=layers, vector_dim=8, clf_hidden=8)
    net = LogActionNet(table, config)
    return ModelBundle(state=net.state_dict(), table=table, model_config=config)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_fast_scorer_gives_the_networks_numbers(layers):
    bundle = bundle_of(layers)
    events = fixed_windows_of(np.random.default_rng(1).integers(1, 40, 333), 20, 7).events
    expected = score(bundle, events, device="cpu")
    got, _ = FastScorer.from_bundle(bundle).run(events)
    assert np.allclose(got.p_anomaly, expected.p_anomaly, atol=1e-5)
    assert np.allclose(got.free_energy, expected.free_energy, atol=1e-4)


def test_occlusion_equals_scoring_the_window_without_the_template():
    bundle = bundle_of(2)
    scorer = FastScorer.from_bundle(bundle)
    events = fixed_windows_of(np.random.default_rng(2).integers(1, 12, 45), 20, 10).events  # last one padded
    base, states = scorer.run(events, keep_states=True)
    drops = scorer.occlude(events, states, np.arange(len(events)))
    assert len(drops) == sum(len(np.unique(w[w > 0])) for w in events)
    net = bundle.net("cpu")
    for w, row, drop in drops:
        rest = events[w][events[w] != row]
        with torch.inference_mode():
            _, energies, _ = net(torch.as_tensor(rest[None]))
        logit = float(energies[0, 0] - energies[0, 1])
        assert drop == pytest.approx(base.logit[w] - logit, abs=1e-4)


def test_added_rows_score_like_a_table_that_had_them():
    bundle = bundle_of(2)
    scorer = FastScorer.from_bundle(bundle)
    extra = np.random.default_rng(3).standard_normal((3, 24)).astype(np.float32)
    first = scorer.add_rows(extra)
    assert first == 40
    wider = ModelBundle(state=bundle.state, table=np.vstack([bundle.table, extra]), model_config=bundle.model_config)
    wider.state = {**bundle.state, "embed.weight": torch.as_tensor(wider.table)}
    events = np.array([[1, 40, 41, 2, 42] * 4])
    got, _ = scorer.run(events)
    assert np.allclose(got.p_anomaly, score(wider, events, device="cpu").p_anomaly, atol=1e-5)


@pytest.mark.parametrize("n, size, stride", [(1, 20, 20), (19, 20, 10), (20, 20, 20), (57, 20, 10), (100, 20, 7)])
def test_fixed_windows_match_ml_windowing(n, size, stride):
    rows = np.arange(1, n + 1)
    mine = fixed_windows_of(rows, size, stride)
    ref = fixed_windows(rows, None, size, stride)
    assert np.array_equal(mine.events, ref.events)
    assert np.array_equal(mine.first, ref.first) and np.array_equal(mine.last, ref.last)
    held = mine.positions >= 0
    assert np.array_equal(rows[mine.positions[held]], mine.events[held])


def test_session_windows_match_ml_windowing():
    rows = np.arange(1, 13)
    sessions = ["a", "b", None, "a", "c", "b", "a", "a", "a", None, "c", "b"]
    mine = session_windows_of(rows, sessions, max_len=3)
    ref = session_windows(rows, sessions, max_len=3)
    assert np.array_equal(mine.events, ref.events)
    assert np.array_equal(mine.first, ref.first) and np.array_equal(mine.last, ref.last)
    assert mine.positions[0].tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="session id"):
        session_windows_of(rows[:2], [None, None], max_len=3)


def test_read_contents_reads_as_ingest_does():
    fmt = get_format("synthetic-b-nolabel")
    lines = generate("synthetic-b", n_lines=50, seed=2, label_token=False).lines
    lines = lines[:5] + ["", "   "] + lines[5:]
    read = read_contents(lines, fmt, session_regex=r"request_id=(\w+)")
    records = list(iter_records(lines, fmt, session_regex=r"request_id=(\w+)", start_line=0))
    assert read.contents == [r.content for r in records]
    assert read.index.tolist() == [r.line_no for r in records] and 5 not in read.index
    assert read.sessions == [r.session for r in records]
    prefixed = read_contents([f"host7 {line}" for line in lines[:3]], fmt, strip_prefix=True)
    assert prefixed.contents == read.contents[:3]
    with pytest.raises(LineFormatError) as error:
        read_contents(lines[:3] + ["nope"], fmt)
    assert error.value.index == 3


def test_matching_is_read_only_and_agrees_with_the_parser():
    fmt = get_format("synthetic-a-nolabel")
    contents = [fmt.pattern.match(line).group("Content")
                for line in generate("synthetic-a", n_lines=3000, seed=5, label_token=False).lines]
    parser = TemplateParser()
    parser.add_many(contents[:2000])
    state = parser.to_bytes()
    matcher = TemplateMatcher(TemplateParser.from_bytes(state))
    fresh = contents[2000:] + ["a message no template knows at all", "another unseen message shape here"]
    ids, unknown = matcher.match(fresh)
    reference = TemplateParser.from_bytes(state)
    assert ids.tolist() == [reference.match(c) for c in fresh]
    assert unknown[len(fresh) - 1] == "another unseen message shape here" and len(unknown) >= 2
    # the tree is untouched (compared after one load: a loaded tree serialises a little differently)
    assert matcher.parser.to_bytes() == TemplateParser.from_bytes(state).to_bytes()
    assert matcher.parser.templates() == parser.templates()
    again, _ = matcher.match(fresh)  # from the caches
    assert again.tolist() == ids.tolist()


def test_the_shape_cache_masks_exactly_like_the_masker():
    assert digit_blind([r"\d{1,3}", r"[0-9a-fA-F]{8,}", r"0[xX]"]) and not digit_blind([r"port 5\d"])
    matcher = TemplateMatcher(TemplateParser())
    masker = Masker()
    samples = ["log4j 0x1f 1x1f blk_-123 10.0.0.1:80 /a/b/c deadbeef12 h2o", "val=0x9 0x 1x 12.5.3 9.9.9.9.9",
               "abc1234 abc12345 A1B2C3D4", "took 35 ms", "took 98 ms", "user u42 logged in", "user u97 logged in"]
    for text in samples + [s.replace("1", "7").replace("2", "9") for s in samples] + samples:
        assert matcher._mask(text) == masker(text), text


def test_attribution_helpers():
    events = np.array([[0, 3, 5, 3, 7]])
    positions = np.array([[-1, 10, 11, 12, 13]])
    batch = fixed_windows_of(np.array([3, 5, 3, 7]), 5, 5)
    assert np.array_equal(batch.events, events) and np.array_equal(batch.positions + 10 * (batch.positions >= 0),
                                                                   positions)
    ranked = ranked_templates([(0, 3, 0.5), (0, 5, -0.2), (0, 7, 1.5)])
    assert ranked == {0: [7, 3]}
    assert lines_of_templates(batch, 0, ranked[0], limit=5) == [3, 0, 2]
    assert lines_of_templates(batch, 0, ranked[0], limit=2) == [3, 0]
    keys = np.array([0, 4, 4, 9])  # lines 1 and 2 share an unknown message, line 3 another
    assert distinct_per_window(keys, batch.positions).tolist() == [2]


@pytest.mark.parametrize("explain", ["all", "none"])
def test_deduplicated_windows_score_like_every_window_scored_alone(explain):
    """The service scores each distinct event sequence once and scatters the result back (repetitive logs
    repeat windows); that must give every window what scoring and occluding it on its own gives."""
    from app.services.scoring import LoadedModel, _answer

    bundle = bundle_of(2)
    scorer = FastScorer.from_bundle(bundle)
    rng = np.random.default_rng(7)
    rows = np.concatenate([np.tile([3, 5, 3, 7, 9], 30), rng.integers(1, 40, 25), np.tile([3, 5, 3, 7, 9], 10)])
    batch = fixed_windows_of(rows, 20, 5)
    assert len(np.unique(batch.events, axis=0)) < len(batch.events) // 2  # the dedupe has work to do
    alone, _ = scorer.run(batch.events[:1])
    model = LoadedModel(key=(), version=1, version_id=1, threshold=float(np.median(alone.p_anomaly)), fmt=None,
                        strip_prefix=False, session_regex=None, window_size=20, window_stride=5, scorer=scorer,
                        matcher=None, cluster_rows=np.arange(40), unknown_row=0)
    index = np.arange(len(rows)) + 100
    answer = _answer(model, batch, index, np.zeros(len(rows), np.int64), explain)
    assert len(answer["windows"]) == len(batch.events)
    for w, got in enumerate(answer["windows"]):
        events = batch.events[w:w + 1]
        scores, states = scorer.run(events, keep_states=True)
        assert got["p_anomaly"] == pytest.approx(float(scores.p_anomaly[0]), abs=1e-5)
        assert got["free_energy"] == pytest.approx(float(scores.free_energy[0]), abs=1e-4)
        expected = []
        if explain == "all":
            ranked = ranked_templates(scorer.occlude(events, states, np.array([0])))
            single = type(batch)(events, batch.positions[w:w + 1], batch.first[w:w + 1], batch.last[w:w + 1])
            expected = [int(index[i]) for i in lines_of_templates(single, 0, ranked.get(0, []))]
        assert got["top_lines"] == expected
    assert answer["windows_explained"] == (len(batch.events) if explain == "all" else 0)
