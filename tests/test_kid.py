import math

import pytest
import torch

from utils.kid import kernel_distance, mmd2_unbiased, polynomial_kernel


def gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def loop_kernel(x: list[float], y: list[float]) -> float:
    return (sum(p * q for p, q in zip(x, y)) / len(x) + 1) ** 3


def loop_mmd2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.tolist(), b.tolist()
    n, m = len(a), len(b)
    within_a = sum(loop_kernel(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    within_b = sum(loop_kernel(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(loop_kernel(x, y) for x in a for y in b) / (n * m)
    return within_a + within_b - 2 * across


def test_polynomial_kernel_by_hand():
    a = torch.tensor([[1.0, 2.0]])
    b = torch.tensor([[3.0, -1.0], [0.0, 0.0]])
    # (1*3 + 2*(-1)) / 2 + 1 = 1.5 -> 3.375; (0) / 2 + 1 = 1 -> 1
    assert polynomial_kernel(a, b).tolist() == [[3.375, 1.0]]


@pytest.mark.parametrize("n, m, seed", [(2, 2, 0), (5, 7, 1), (9, 4, 2)])
def test_mmd2_matches_a_double_loop_over_pairs(n, m, seed):
    a, b = gaussian(n, 3, seed), gaussian(m, 3, seed + 100, shift=0.5)
    assert mmd2_unbiased(a, b) == pytest.approx(loop_mmd2(a, b), rel=1e-9)


def test_mmd2_is_computed_in_float64_from_float32_input():
    a, b = gaussian(6, 3, 5), gaussian(8, 3, 6, shift=1.0)
    assert mmd2_unbiased(a.float(), b.float()) == pytest.approx(loop_mmd2(a.float().double(), b.float().double()), rel=1e-9)


def test_mmd2_can_be_negative_for_samples_of_one_distribution():
    g = torch.Generator().manual_seed(0)  # a seed where the unbiased estimate falls below zero
    a, b = (torch.randn(50, 4, generator=g, dtype=torch.float64) for _ in range(2))
    assert mmd2_unbiased(a, b) < 0


def test_mmd2_grows_with_the_shift():
    a = gaussian(60, 4, 0)
    values = [mmd2_unbiased(a, gaussian(60, 4, 1, shift=s)) for s in (0.5, 1.0, 2.0)]
    assert 0 < values[0] < values[1] < values[2]


def test_kernel_distance_with_full_subsets_equals_mmd2():
    # subsets of every row are permutations, and the estimator ignores order: every subset gives the same value
    a, b = gaussian(12, 3, 7), gaussian(12, 3, 8, shift=0.3)
    result = kernel_distance(a, b, subsets=4, subset_size=50, generator=torch.Generator().manual_seed(0))
    assert result.subset_size == 12 and result.subsets == 4
    assert result.mean == pytest.approx(mmd2_unbiased(a, b), rel=1e-9)
    assert result.std_error == pytest.approx(0.0, abs=1e-9)


def test_kernel_distance_subset_size_is_the_smallest_set():
    a, b = gaussian(15, 3, 9), gaussian(6, 3, 10)
    result = kernel_distance(a, b, subsets=3, subset_size=100, generator=torch.Generator().manual_seed(0))
    assert result.subset_size == 6


def test_kernel_distance_is_the_mean_and_standard_error_of_the_same_subsets():
    a, b = gaussian(20, 3, 11), gaussian(17, 3, 12, shift=0.4)
    result = kernel_distance(a, b, subsets=5, subset_size=8, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    values = []
    for _ in range(5):
        pick_a, pick_b = torch.randperm(20, generator=g)[:8], torch.randperm(17, generator=g)[:8]
        values.append(mmd2_unbiased(a[pick_a], b[pick_b]))
    mean = sum(values) / 5
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert result.mean == pytest.approx(mean, rel=1e-9)
    assert result.std_error == pytest.approx(std / math.sqrt(5), rel=1e-9)
    assert result.std_error > 0


def test_kernel_distance_is_reproducible_with_a_seeded_generator():
    a, b = gaussian(30, 3, 13), gaussian(30, 3, 14)
    first = kernel_distance(a, b, subsets=3, subset_size=10, generator=torch.Generator().manual_seed(1))
    second = kernel_distance(a, b, subsets=3, subset_size=10, generator=torch.Generator().manual_seed(1))
    assert first == second


def test_clear_errors_for_bad_features():
    good = torch.zeros(5, 3)
    with pytest.raises(ValueError, match=r"a must have shape \[N, D\]"):
        mmd2_unbiased(torch.zeros(5), good)
    with pytest.raises(ValueError, match="same feature size, got 3 and 2"):
        mmd2_unbiased(good, torch.zeros(5, 2))
    with pytest.raises(ValueError, match="b contains NaN"):
        mmd2_unbiased(good, torch.full((5, 3), float("nan")))
    with pytest.raises(ValueError, match="1 rows are too few; this needs at least 2"):
        mmd2_unbiased(torch.zeros(1, 3), good)
    with pytest.raises(ValueError, match="same feature size"):
        kernel_distance(good, torch.zeros(5, 4))
    with pytest.raises(ValueError, match="too few"):
        kernel_distance(good, torch.zeros(1, 3))


@pytest.mark.parametrize("subsets", [1, 0, True, 2.5])
def test_kernel_distance_needs_at_least_two_subsets(subsets):
    with pytest.raises(ValueError, match="subsets must be an integer >= 2"):
        kernel_distance(torch.zeros(5, 3), torch.zeros(5, 3), subsets=subsets)


@pytest.mark.parametrize("subset_size", [1, 0, False, 10.0])
def test_kernel_distance_needs_subsets_of_two_rows(subset_size):
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2"):
        kernel_distance(torch.zeros(5, 3), torch.zeros(5, 3), subset_size=subset_size)


def test_disjoint_subsets_use_every_row_at_most_once_and_must_fit():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(30, 3, generator=g, dtype=torch.float64), torch.randn(40, 3, generator=g, dtype=torch.float64)
    result = kernel_distance(a, b, subsets=3, subset_size=10, disjoint=True, generator=torch.Generator().manual_seed(0))
    replay = torch.Generator().manual_seed(0)
    order_a, order_b = torch.randperm(30, generator=replay), torch.randperm(40, generator=replay)
    blocks = [mmd2_unbiased(a[order_a[i * 10 : (i + 1) * 10]], b[order_b[i * 10 : (i + 1) * 10]]) for i in range(3)]
    assert result.mean == pytest.approx(sum(blocks) / 3, rel=1e-12)
    assert result.std_error == pytest.approx(torch.tensor(blocks, dtype=torch.float64).std().item() / 3**0.5, rel=1e-9)
    with pytest.raises(ValueError, match="disjoint subsets need subsets x subset_size = 40 rows"):
        kernel_distance(a, b, subsets=4, subset_size=10, disjoint=True)
