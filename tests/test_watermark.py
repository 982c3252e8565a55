"""The green-list watermark: its green lists, the logits processor, the detector's z-score, and GPT.generate's hook."""

import math

import pytest
import torch

from utils.gpt import GPT, GPTConfig
from utils.watermark import GreenListWatermark


def test_each_previous_token_has_its_own_green_list_of_the_right_size_fixed_by_the_key():
    mark = GreenListWatermark(65, gamma=0.25, key=7)
    assert mark.green.shape == (65, 65) and mark.green.dtype == torch.bool
    assert (mark.green.sum(dim=1) == 16).all() and mark.gamma == 16 / 65  # round(0.25 * 65) = 16, exact share kept
    assert len({tuple(row.nonzero().flatten().tolist()) for row in mark.green}) > 60  # lists differ by previous token
    assert torch.equal(mark.green, GreenListWatermark(65, gamma=0.25, key=7).green)
    assert not torch.equal(mark.green, GreenListWatermark(65, gamma=0.25, key=8).green)


def test_the_processor_adds_delta_to_the_green_logits_after_each_rows_last_token():
    mark = GreenListWatermark(10, gamma=0.5, delta=1.5, key=0)
    ids = torch.tensor([[4, 2], [1, 9]])
    logits = torch.randn(2, 10, dtype=torch.float64)
    out = mark(ids, logits)
    assert out.dtype == torch.float64
    assert torch.equal(out - logits != 0, mark.green[[2, 9]])
    assert torch.allclose((out - logits)[mark.green[[2, 9]]], torch.full((10,), 1.5, dtype=torch.float64))


def test_z_score_counts_green_tokens_judged_by_the_previous_token():
    mark = GreenListWatermark(6, gamma=0.5, key=3)
    # build a row whose every token is green after its predecessor, and one whose every token is red
    green_row, red_row = [0], [0]
    for _ in range(8):
        green_row.append(int(mark.green[green_row[-1]].nonzero()[0]))
        red_row.append(int((~mark.green[red_row[-1]]).nonzero()[0]))
    rows = torch.tensor([green_row, red_row])
    counts, scored = mark.green_counts(rows, ignore_repeats=False)
    assert counts.tolist() == [8, 0] and scored.tolist() == [8, 8]
    z = mark.z_scores(rows, ignore_repeats=False)
    assert z.dtype == torch.float64
    assert z.tolist() == pytest.approx([(8 - 4) / math.sqrt(8 * 0.25), (0 - 4) / math.sqrt(8 * 0.25)])
    # counting each distinct (previous, token) pair once
    distinct = [len(set(zip(row[:-1], row[1:]))) for row in (green_row, red_row)]
    counts, scored = mark.green_counts(rows)
    assert counts.tolist() == [distinct[0], 0] and scored.tolist() == distinct
    assert mark.z_scores(rows).tolist() == pytest.approx(
        [(d - d / 2) / math.sqrt(d / 4) * s for d, s in zip(distinct, (1, -1))])


def test_repeated_pairs_count_once_so_repetitive_text_does_not_inflate_the_score():
    mark = GreenListWatermark(30, gamma=0.5, key=0)
    phrase = torch.randint(30, (21,), generator=torch.Generator().manual_seed(0))  # unmarked text, z about 1.3
    once, tenfold = phrase[None], phrase.repeat(10)[None]
    assert mark.z_scores(tenfold).item() == pytest.approx(mark.z_scores(once).item(), abs=0.5)  # 1 new pair per copy
    # counting every occurrence, the same unmarked phrase said ten times would be flagged as watermarked
    assert mark.z_scores(tenfold, ignore_repeats=False).item() > 4 > mark.z_scores(tenfold).item() + 2


def test_text_without_the_key_scores_about_standard_normal():
    mark = GreenListWatermark(65, gamma=0.5, key=1)
    random_text = torch.randint(65, (2000, 200), generator=torch.Generator().manual_seed(0))
    z = mark.z_scores(random_text)
    assert abs(z.mean().item()) < 0.1 and abs(z.std().item() - 1) < 0.1
    assert (z >= 4).double().mean().item() < 0.002


def test_generation_with_the_watermark_is_detected_and_without_it_is_not():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, block_size=64, n_layer=1, n_head=2, n_embd=16))  # untrained: near uniform
    mark = GreenListWatermark(20, gamma=0.5, delta=4.0, key=5)
    prompt = torch.zeros(16, 1, dtype=torch.long)
    marked = model.generate(prompt, 60, generator=torch.Generator().manual_seed(0), logits_processor=mark)
    plain = model.generate(prompt, 60, generator=torch.Generator().manual_seed(0))
    assert mark.z_scores(marked).min() > 4
    assert mark.z_scores(plain).abs().max() < 4
    assert mark.z_scores(marked).mean() > mark.z_scores(plain).mean() + 5


def test_generate_passes_every_token_so_far_to_the_processor_and_checks_what_it_returns():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=1, n_embd=8))
    seen = []

    def force_three(ids, logits):
        seen.append(ids.clone())
        forced = torch.full_like(logits, -1e9)
        forced[:, 3] = 0
        return forced

    out = model.generate(torch.tensor([[1, 2]]), 4, logits_processor=force_three)
    assert out.tolist() == [[1, 2, 3, 3, 3, 3]]
    assert [s.tolist() for s in seen] == [[[1, 2]], [[1, 2, 3]], [[1, 2, 3, 3]], [[1, 2, 3, 3, 3]]]
    with pytest.raises(ValueError, match="logits_processor returned shape"):
        model.generate(torch.tensor([[1]]), 2, logits_processor=lambda ids, logits: logits[:, :4])


def test_bad_settings_and_inputs_are_refused():
    for kwargs in ({"vocab_size": 1}, {"vocab_size": 10, "gamma": 0.0}, {"vocab_size": 10, "gamma": 1.0},
                   {"vocab_size": 10, "delta": -1.0}, {"vocab_size": 10, "delta": float("nan")},
                   {"vocab_size": 10, "gamma": 0.01}, {"vocab_size": True}):
        with pytest.raises(ValueError):
            GreenListWatermark(**kwargs)
    mark = GreenListWatermark(10)
    with pytest.raises(ValueError, match="at least two tokens"):
        mark.z_scores(torch.tensor([[3]]))
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        mark.z_scores(torch.tensor([[3, 10]]))
    with pytest.raises(ValueError, match="integer token ids"):
        mark.z_scores(torch.tensor([3.0, 4.0]))
    with pytest.raises(ValueError, match="expected logits"):
        mark(torch.tensor([[1]]), torch.zeros(1, 9))
    with pytest.raises(ValueError, match="previous token"):
        mark(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 10))
