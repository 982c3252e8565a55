import pytest

from utils.text_metrics import copied_ngram_fraction, distinct_n

# -------------------------------------------------------------------------------------- copied_ngram_fraction


def test_a_text_wholly_inside_the_corpus_is_fully_copied():
    assert copied_ngram_fraction("abcd", "xxabcdyy", n=3) == 1.0
    assert copied_ngram_fraction("abc", "abc", n=3) == 1.0  # exactly n characters: a single n-gram


def test_a_text_sharing_no_n_gram_with_the_corpus_copies_nothing():
    assert copied_ngram_fraction("abc", "xyz", n=2) == 0.0
    # every character occurs in the corpus, but no 2-gram does
    assert copied_ngram_fraction("cba", "abc", n=2) == 0.0


def test_a_mixed_text_copies_the_share_of_its_n_grams_found_in_the_corpus():
    # 2-grams of "abcxyz": ab, bc, cx, xy, yz; only ab and bc occur in "abcd"
    assert copied_ngram_fraction("abcxyz", "abcd", n=2) == pytest.approx(2 / 5)
    # 3-grams: abc, bcx, cxy, xyz; only abc occurs
    assert copied_ngram_fraction("abcxyz", "abcd", n=3) == pytest.approx(1 / 4)


def test_stride_counts_only_every_stride_th_n_gram():
    # stride 2 starts at 0, 2, 4: ab (copied), cx, yz
    assert copied_ngram_fraction("abcxyz", "abcd", n=2, stride=2) == pytest.approx(1 / 3)
    # stride 3 starts at 0, 3: ab (copied), xy
    assert copied_ngram_fraction("abcxyz", "abcd", n=2, stride=3) == pytest.approx(1 / 2)
    # stride 10 keeps only the first n-gram
    assert copied_ngram_fraction("abcxyz", "abcd", n=2, stride=10) == 1.0
    assert copied_ngram_fraction("xyzabc", "abcd", n=2, stride=10) == 0.0


def test_copied_fraction_rejects_a_text_shorter_than_n():
    with pytest.raises(ValueError, match="text has 2 characters, fewer than n = 3"):
        copied_ngram_fraction("ab", "abc", n=3)
    with pytest.raises(ValueError, match="text has 0 characters, fewer than n = 1"):
        copied_ngram_fraction("", "abc", n=1)


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_copied_fraction_rejects_a_bad_n(n):
    with pytest.raises(ValueError, match=f"n must be a positive integer, got {n!r}"):
        copied_ngram_fraction("abcd", "abcd", n=n)


@pytest.mark.parametrize("stride", [0, False, 1.5])
def test_copied_fraction_rejects_a_bad_stride(stride):
    with pytest.raises(ValueError, match=f"stride must be a positive integer, got {stride!r}"):
        copied_ngram_fraction("abcd", "abcd", n=2, stride=stride)


def test_copied_fraction_rejects_inputs_that_are_not_str():
    with pytest.raises(TypeError, match="text must be a str, got list"):
        copied_ngram_fraction(["a", "b", "c"], "abc", n=2)
    with pytest.raises(TypeError, match="corpus must be a str, got bytes"):
        copied_ngram_fraction("abc", b"abc", n=2)


# ------------------------------------------------------------------------------------------------- distinct_n


def test_distinct_n_of_a_repetitive_sequence():
    tokens = "a b a b".split()
    assert distinct_n(tokens, 1) == pytest.approx(1 / 2)  # {a, b} of 4 unigrams
    assert distinct_n(tokens, 2) == pytest.approx(2 / 3)  # {(a, b), (b, a)} of 3 bigrams
    assert distinct_n(tokens, 4) == 1.0  # a single 4-gram


def test_distinct_n_is_one_without_repeats_and_small_for_a_loop():
    assert distinct_n(["the", "cat", "sat"], 1) == 1.0
    assert distinct_n(("x",) * 10, 1) == pytest.approx(1 / 10)  # any sequence, not only a list
    assert distinct_n(("x",) * 10, 3) == pytest.approx(1 / 8)


def test_distinct_n_rejects_a_str():
    with pytest.raises(TypeError, match="tokens must be a sequence of str .* got one str"):
        distinct_n("a b a b", 1)


def test_distinct_n_rejects_n_larger_than_the_token_count():
    with pytest.raises(ValueError, match="2 tokens are fewer than n = 3"):
        distinct_n(["a", "b"], 3)
    with pytest.raises(ValueError, match="0 tokens are fewer than n = 1"):
        distinct_n([], 1)


@pytest.mark.parametrize("n", [0, True])
def test_distinct_n_rejects_a_bad_n(n):
    with pytest.raises(ValueError, match=f"n must be a positive integer, got {n!r}"):
        distinct_n(["a", "b"], n)
