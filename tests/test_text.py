import pytest
import torch

from utils.data import load_names
from utils.text import (
    END,
    IGNORE_INDEX,
    CharVocab,
    context_windows,
    name_sequences,
    random_windows,
    shakespeare_characters,
    split_names,
    text_windows,
)


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


def test_text_vocabulary_is_the_sorted_characters_without_an_end_token():
    vocab = CharVocab.of_text("to be. or not")
    assert vocab.itos == [" ", ".", "b", "e", "n", "o", "r", "t"] and vocab.end is None
    assert vocab.decode(vocab.encode("be. or")) == "be. or"
    with pytest.raises(ValueError, match=r"characters \['X'\] are not in the vocabulary; allowed: ' .benort'$"):
        vocab.encode("X")


def test_shakespeare_vocabulary_matches_nanogpt():
    from utils.data import load_tiny_shakespeare

    vocab = CharVocab.of_text(load_tiny_shakespeare())
    assert len(vocab) == 65 and "".join(vocab.itos[:4]) == "\n !$" and vocab.itos[-1] == "z"


def test_text_windows_tile_the_stream_with_targets_one_ahead():
    ids = torch.arange(11)
    x, y = text_windows(ids, 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert text_windows(torch.arange(10), 3)[0].shape == (3, 3)  # 9 is only a target of the last window
    with pytest.raises(ValueError, match=r"expected a token stream \[N\]"):
        text_windows(torch.zeros(2, 5, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r"a stream of 11 tokens holds no window of 16 \+ 1"):
        text_windows(ids, 16)
    with pytest.raises(ValueError, match="block_size must be at least 1"):
        text_windows(ids, 0)


def test_random_windows_are_contiguous_shifted_and_seeded():
    ids = torch.arange(100) * 2
    x, y = random_windows(ids, 5, 7, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (7, 5)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs moved one step ahead
    assert torch.equal(x[:, 1:] - x[:, :-1], torch.full((7, 4), 2))  # contiguous in the stream
    again, _ = random_windows(ids, 5, 7, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    assert y.max() <= 198
    with pytest.raises(ValueError, match="block_size must be between 1 and 99 for 100 tokens"):
        random_windows(ids, 100, 2)


def test_shakespeare_characters_split_90_10_in_order():
    from utils.data import load_tiny_shakespeare

    vocab, train, val = shakespeare_characters()
    assert len(vocab) == 65 and (len(train), len(val)) == (1003854, 111540)
    text = load_tiny_shakespeare()
    assert vocab.decode(train[:14]) == text[:14] == "First Citizen:"
    assert vocab.decode(val[-20:]) == text[-20:]
    with pytest.raises(ValueError, match="train_fraction must be between 0 and 1"):
        shakespeare_characters(1.0)


def test_the_end_token_inside_a_name_is_refused_not_encoded_as_an_early_end(vocab):
    with pytest.raises(ValueError, match=r"the end token '\.' may not appear in a name .*position 1 of 'a\.b'"):
        vocab.encode("a.b")
    with pytest.raises(ValueError, match=r"the end token '\.' may not appear in a name"):
        name_sequences(["ab", "a.b"], vocab)
    with pytest.raises(ValueError, match=r"the end token '\.' may not appear in a name"):
        context_windows(["a.b"], vocab, block_size=2)
    with pytest.raises(ValueError, match=r"characters \['Z'\] are not in the vocabulary; allowed: 'abc'$"):
        vocab.encode("aZ")  # the end token is no longer listed as allowed
    assert CharVocab.of_text("a.b").encode("a.b").tolist() == [1, 0, 2]  # running text has no end token


def test_names_and_ids_of_the_wrong_type_are_refused(vocab):
    with pytest.raises(TypeError, match="names must be a list of str, got one str 'abc'"):
        name_sequences("abc", vocab)
    with pytest.raises(TypeError, match="names must be a list of str, got items of type int"):
        context_windows(["ab", 3], vocab, block_size=2)
    with pytest.raises(TypeError, match="names must be a list of str, got one str"):
        split_names("abc")
    with pytest.raises(TypeError, match="encode takes a str, got list"):
        vocab.encode(["a", "b"])
    with pytest.raises(TypeError, match=r"ids must be integers in 0..3"):
        vocab.decode(torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"a CharVocab holds single characters \(str\), got \['int'\]"):
        CharVocab([1, 2])


def test_token_streams_must_be_int64_and_batches_non_empty():
    with pytest.raises(ValueError, match=r"expected a token stream \[N\] of int64 ids, got \(10,\) torch.float32"):
        text_windows(torch.arange(10.0), 3)
    with pytest.raises(ValueError, match=r"expected a token stream \[N\] of int64 ids"):
        random_windows(torch.arange(10.0), 3, 2)
    for batch_size in (0, -1):
        with pytest.raises(ValueError, match=f"batch_size must be at least 1, got {batch_size}"):
            random_windows(torch.arange(10), 3, batch_size)
