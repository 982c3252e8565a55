import math

import pytest
import torch

from utils.two_sample import classifier_two_sample_test


def gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_well_separated_clouds_are_told_apart():
    result = classifier_two_sample_test(
        gaussian(200, 3, 0), gaussian(200, 3, 1, shift=4.0), steps=100, generator=torch.Generator().manual_seed(0)
    )
    assert result.accuracy > 0.95


def test_samples_of_one_distribution_are_at_chance():
    result = classifier_two_sample_test(
        gaussian(200, 3, 2), gaussian(200, 3, 3), steps=100, generator=torch.Generator().manual_seed(0)
    )
    assert abs(result.accuracy - 0.5) < 4 * result.std_error


def test_same_seed_same_result():
    real, fake = gaussian(60, 4, 4), gaussian(60, 4, 5, shift=0.3)
    first = classifier_two_sample_test(real, fake, steps=30, generator=torch.Generator().manual_seed(7))
    second = classifier_two_sample_test(real, fake, steps=30, generator=torch.Generator().manual_seed(7))
    assert first == second


def test_global_random_state_is_left_alone_by_the_seeded_test():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    classifier_two_sample_test(gaussian(20, 2, 6), gaussian(20, 2, 7), steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("n, m, n_test", [(30, 21, 22), (21, 30, 22), (40, 40, 40), (4, 9, 4)])
def test_test_size_uses_the_smaller_set_and_holds_out_half(n, m, n_test):
    # min(N, M) rows of each set, half (rounded down) to train; the rest of both sets is the test set
    result = classifier_two_sample_test(
        gaussian(n, 2, 8), gaussian(m, 2, 9), steps=5, generator=torch.Generator().manual_seed(0)
    )
    assert result.n_test == n_test
    assert result.std_error == pytest.approx(math.sqrt(0.25 / n_test))
    assert result.accuracy * n_test == pytest.approx(round(result.accuracy * n_test))


@pytest.mark.parametrize("steps", [0, -1, True, 1.5])
def test_steps_must_be_a_positive_integer(steps):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        classifier_two_sample_test(gaussian(8, 2, 0), gaussian(8, 2, 1), steps=steps)


@pytest.mark.parametrize("hidden", [0, -3, False, 8.0])
def test_hidden_must_be_a_positive_integer(hidden):
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        classifier_two_sample_test(gaussian(8, 2, 0), gaussian(8, 2, 1), hidden=hidden)


def test_feature_errors():
    with pytest.raises(ValueError, match=r"real must have shape \[N, D\]"):
        classifier_two_sample_test(torch.zeros(8), gaussian(8, 2, 1))
    with pytest.raises(ValueError, match="same feature size, got 2 and 3"):
        classifier_two_sample_test(gaussian(8, 2, 0), gaussian(8, 3, 1))
    with pytest.raises(ValueError, match="fake: 3 rows are too few; this needs at least 4"):
        classifier_two_sample_test(gaussian(8, 2, 0), gaussian(3, 2, 1))
    with pytest.raises(ValueError, match="fake contains NaN"):
        classifier_two_sample_test(gaussian(8, 2, 0), torch.full((8, 2), float("nan")))
