import math

import pytest
import torch

from utils.frechet_bias import extrapolate_frechet, frechet_curve
from utils.metrics import feature_statistics, frechet_distance_from_statistics

DIM = 3
STANDARD = (torch.zeros(DIM, dtype=torch.float64), torch.eye(DIM, dtype=torch.float64))


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    return torch.randn(2000, DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_extrapolation_recovers_an_exact_line_in_one_over_n():
    sizes = [100, 200, 500, 1000, 5000]
    fd_inf, slope = extrapolate_frechet(sizes, [2.5 + 300.0 / n for n in sizes])
    assert fd_inf == pytest.approx(2.5, rel=1e-9)
    assert slope == pytest.approx(300.0, rel=1e-9)


def test_extrapolation_with_two_sizes_and_a_negative_limit():
    fd_inf, slope = extrapolate_frechet((10, 40), (0.5, -0.25))  # -0.5 + 10/n
    assert fd_inf == pytest.approx(-0.5, rel=1e-9)
    assert slope == pytest.approx(10.0, rel=1e-9)


@pytest.mark.parametrize(
    "sizes, distances",
    [([100, 200], [1.0]), ([100, 200, 300], [1.0, 2.0]), ([100, 100], [1.0, 2.0]), ([100], [1.0]), ([], [])],
)
def test_extrapolation_needs_matching_lengths_and_two_distinct_sizes(sizes, distances):
    with pytest.raises(ValueError, match="at least two distinct sizes"):
        extrapolate_frechet(sizes, distances)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_extrapolation_rejects_non_finite_distances(bad):
    with pytest.raises(ValueError, match="distances must be finite"):
        extrapolate_frechet([100, 200], [1.0, bad])


def test_extrapolation_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="sizes must be positive"):
        extrapolate_frechet([0, 200], [1.0, 2.0])


def test_frechet_curve_shows_the_small_sample_bias(features):
    curve = frechet_curve(features, STANDARD, sizes=[8, 50, 2000], repeats=10, generator=torch.Generator().manual_seed(0))
    assert len(curve) == 3 and all(isinstance(v, float) for v in curve)
    assert curve[0] > curve[1] > curve[2] >= 0


def test_frechet_curve_on_the_whole_set_is_the_full_distance(features):
    # every subset of all rows is a permutation, so each repeat gives the distance of the full set
    expected = frechet_distance_from_statistics(*feature_statistics(features), *STANDARD)
    curve = frechet_curve(features, STANDARD, sizes=[2000], repeats=3, generator=torch.Generator().manual_seed(1))
    assert curve == [pytest.approx(expected, rel=1e-9)]


def test_frechet_curve_is_reproducible_and_keeps_the_order_of_sizes(features):
    first = frechet_curve(features, STANDARD, sizes=[500, 10], repeats=2, generator=torch.Generator().manual_seed(2))
    second = frechet_curve(features, STANDARD, sizes=[500, 10], repeats=2, generator=torch.Generator().manual_seed(2))
    assert first == second
    assert first[1] > first[0]


@pytest.mark.parametrize("size", [DIM, 1, 2001, 10.0, True])
def test_frechet_curve_sizes_must_exceed_the_dimension_and_fit_the_set(features, size):
    with pytest.raises(ValueError, match=r"each size must be an integer in 4\.\.2000"):
        frechet_curve(features, STANDARD, sizes=[size])


def test_frechet_curve_needs_sizes_and_repeats(features):
    with pytest.raises(ValueError, match="sizes must name at least one subset size"):
        frechet_curve(features, STANDARD, sizes=[])
    for repeats in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="repeats must be a positive integer"):
            frechet_curve(features, STANDARD, sizes=[10], repeats=repeats)


def test_frechet_curve_checks_the_features():
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_curve(torch.full((20, DIM), math.nan), STANDARD, sizes=[10])
    with pytest.raises(ValueError, match=r"shape \[N, D\]"):
        frechet_curve(torch.zeros(20), STANDARD, sizes=[10])
