import math

import pytest
import torch
import torch.nn.functional as F

from utils.charlm import (
    CharRNN,
    CharRNNConfig,
    evaluate_nll,
    sample,
    sequence_loss,
)
from utils.text import IGNORE_INDEX, CharVocab, name_sequences
from utils.train import train_steps

VOCAB = CharVocab("abcde")


def small(cell: str = "gru") -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(CharRNNConfig(vocab_size=len(VOCAB), cell=cell, embedding_dim=8, hidden_size=16, num_layers=2))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_have_shape_batch_time_vocab(cell):
    logits, _state = small(cell)(torch.zeros(3, 5, dtype=torch.long))
    assert logits.shape == (3, 5, len(VOCAB))


def test_bad_inputs_and_options_are_clear_errors():
    with pytest.raises(ValueError, match=r"expected token ids \[B, T\] of dtype int64"):
        small()(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="token ids must lie in 0..5"):
        small()(torch.full((1, 2), 6, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        CharRNN(CharRNNConfig(cell="transformer"))


def test_sequence_loss_ignores_padding_and_trims_it():
    model = small().eval()
    inputs, targets = name_sequences(["abc", "a"], VOCAB)
    logits, _ = model(inputs)
    mask = targets != IGNORE_INDEX
    expected = F.cross_entropy(logits[mask], targets[mask])
    assert sequence_loss(model, inputs, targets).item() == pytest.approx(expected.item(), rel=1e-5)
    padded_inputs = torch.cat([inputs, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    padded_targets = torch.cat([targets, torch.full((2, 3), IGNORE_INDEX)], dim=1)
    assert sequence_loss(model, padded_inputs, padded_targets).item() == pytest.approx(expected.item(), rel=1e-5)


def test_loss_falls_on_a_fixed_batch():
    model = small()
    inputs, targets = name_sequences(["abc", "bad", "cab", "dace"], VOCAB)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = train_steps(
        model, sequence_loss, lambda: (inputs, targets), optimizer=optimizer, steps=50, progress=False
    )
    assert len(history.step_loss) == 50
    assert history.step_loss[-1] < history.step_loss[0] / 3


def test_evaluate_nll_is_the_per_character_average_over_batches():
    model = small()
    inputs, targets = name_sequences(["abc", "a", "bcde", "e"], VOCAB)
    whole = evaluate_nll(model, inputs, targets, batch_size=100)
    assert evaluate_nll(model, inputs, targets, batch_size=1) == pytest.approx(whole, rel=1e-5)
    assert model.training  # mode restored
    untrained = CharRNN(CharRNNConfig(vocab_size=len(VOCAB)))
    torch.nn.init.zeros_(untrained.readout.weight)
    torch.nn.init.zeros_(untrained.readout.bias)
    assert evaluate_nll(untrained, inputs, targets) == pytest.approx(math.log(len(VOCAB)), rel=1e-6)


def test_greedy_sampling_follows_the_argmax_path():
    model = small().eval()
    greedy = sample(model, VOCAB, 3, temperature=0, max_length=6)
    assert greedy[0] == greedy[1] == greedy[2]
    ids, expected = [0], ""
    with torch.no_grad():
        for _ in range(6):
            next_id = model(torch.tensor([ids]))[0][0, -1].argmax().item()
            if next_id == 0:
                break
            ids.append(next_id)
            expected += VOCAB.itos[next_id]
    assert greedy[0] == expected


def test_samples_are_reproducible_keep_the_prefix_and_respect_max_length():
    model = small()
    a = sample(model, VOCAB, 20, prefix="ab", max_length=8, generator=torch.Generator().manual_seed(0))
    b = sample(model, VOCAB, 20, prefix="ab", max_length=8, generator=torch.Generator().manual_seed(0))
    assert a == b and all(name.startswith("ab") and len(name) <= 8 for name in a)
    assert set("".join(a)) <= set("abcde")
    assert model.training


def test_sampling_rejects_bad_prefixes():
    with pytest.raises(ValueError, match=r"characters \['Z'\] are not in the vocabulary"):
        sample(small(), VOCAB, 1, prefix="aZ")
    with pytest.raises(ValueError, match="end token"):
        sample(small(), VOCAB, 1, prefix="a.")
    with pytest.raises(ValueError, match="n must be at least 1"):
        sample(small(), VOCAB, 0)


def test_sampling_checks_its_settings_and_the_vocabulary_before_generating():
    model = small()
    with pytest.raises(ValueError, match="temperature must be >= 0 and finite .*got nan"):
        sample(model, VOCAB, 2, temperature=float("nan"))
    with pytest.raises(ValueError, match="top_k must be between 1 and 6, got 0"):
        sample(model, VOCAB, 2, top_k=0, temperature=0)
    with pytest.raises(ValueError, match="max_length must exceed the prefix's 0 characters .*got 0"):
        sample(model, VOCAB, 2, max_length=0)
    with pytest.raises(ValueError, match="max_length must exceed the prefix's 3 characters .*got 2"):
        sample(model, VOCAB, 2, prefix="abc", max_length=2)
    with pytest.raises(ValueError, match="the vocabulary has 27 symbols but the model predicts 6"):
        sample(model, CharVocab("abcdefghijklmnopqrstuvwxyz"), 2)
    tiny = sample(model, VOCAB, 3, temperature=1e-30, max_length=6, generator=torch.Generator().manual_seed(0))
    assert tiny == sample(model, VOCAB, 3, temperature=0, max_length=6)  # a tiny temperature is greedy, not NaN


def test_sizes_no_model_can_have_are_refused():
    for field in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
        with pytest.raises(ValueError, match=f"{field} must be at least 1, got 0"):
            CharRNN(CharRNNConfig(**{field: 0}))
    for dropout in (1.0, float("nan")):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
            CharRNN(CharRNNConfig(dropout=dropout))


def test_losses_refuse_mismatched_shapes_and_batches_of_padding_only():
    model = small()
    inputs, targets = name_sequences(["abc", "d"], VOCAB)
    with pytest.raises(ValueError, match=r"expected inputs and targets \[B, T\] of one shape, got \(2, 4\), \(2, 2\)"):
        sequence_loss(model, inputs, targets[:, :2])
    with pytest.raises(ValueError, match="every target is padding"):
        sequence_loss(model, inputs, torch.full_like(targets, IGNORE_INDEX))
    with pytest.raises(ValueError, match="no target to score: the targets are empty or all padding"):
        evaluate_nll(model, inputs, torch.full_like(targets, IGNORE_INDEX))
    with pytest.raises(ValueError, match="no target to score"):
        evaluate_nll(model, inputs[:0], targets[:0])
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        evaluate_nll(model, inputs, targets, batch_size=0)
