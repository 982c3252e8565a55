import pytest
import torch

from utils.data import load_names
from utils.text import END, IGNORE_INDEX, CharVocab, context_windows, name_sequences, split_names


@pytest.fixture
def vocab():
    return CharVocab("abc")


def test_vocab_puts_the_end_token_first(vocab):
    assert vocab.itos == [END, "a", "b", "c"] and len(vocab) == 4
    assert vocab.encode("cab").tolist() == [3, 1, 2]
    assert vocab.decode([3, 1, 2, 0]) == "cab."
    assert vocab.decode(torch.tensor([1])) == "a"


def test_names_vocabulary_has_27_symbols():
    assert CharVocab.from_texts(load_names()).itos == [END, *"abcdefghijklmnopqrstuvwxyz"]


def test_unknown_characters_are_a_clear_error(vocab):
    with pytest.raises(ValueError, match=r"characters \['X', 'z'\] are not in the vocabulary; allowed: 'abc'"):
        vocab.encode("aXz")
    with pytest.raises(ValueError, match="ids must lie in 0..3"):
        vocab.decode([4])
    with pytest.raises(ValueError, match="single characters"):
        CharVocab(["ab"])


def test_split_is_seeded_disjoint_and_80_10_10():
    names = [f"n{i}" for i in range(1000)]
    train, dev, test = split_names(names, seed=1)
    assert (len(train), len(dev), len(test)) == (800, 100, 100)
    assert sorted(train + dev + test) == sorted(names)
    assert split_names(names, seed=1) == (train, dev, test)
    assert split_names(names, seed=2)[0] != train
    with pytest.raises(ValueError, match="fractions"):
        split_names(names, fractions=(0.9, 0.2))


def test_the_course_split_of_the_names_is_fixed():
    train, dev, test = split_names(load_names())
    assert (len(train), len(dev), len(test)) == (25626, 3203, 3204)
    assert train[:3] == ["yuheng", "diondre", "xavien"]


def test_name_sequences_shift_targets_by_one_and_pad(vocab):
    inputs, targets = name_sequences(["ab", "c"], vocab)
    assert inputs.tolist() == [[0, 1, 2], [0, 3, 0]]
    assert targets.tolist() == [[1, 2, 0], [3, 0, IGNORE_INDEX]]


def test_context_windows_give_one_example_per_character_and_end(vocab):
    contexts, targets = context_windows(["ab"], vocab, block_size=2)
    assert contexts.tolist() == [[0, 0], [0, 1], [1, 2]]
    assert targets.tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="block_size"):
        context_windows(["ab"], vocab, block_size=0)
