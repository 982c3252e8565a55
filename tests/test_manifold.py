import pytest
import torch

from utils.manifold import (
    check_features,
    covered_real,
    fidelity_diversity,
    knn_radii,
    nearest_neighbour_distances,
)

# Three real points on a line, one apart: with k = 1 every real ball has radius 1.
REAL_LINE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])


def points(*xy: tuple[float, float]) -> torch.Tensor:
    return torch.tensor(xy, dtype=torch.float64)


def test_knn_radii_exclude_the_point_itself():
    # A(0,0) B(1,0) C(3,0) E(0,2): AB=1 AE=2 AC=3, BC=2 BE=sqrt5, CE=sqrt13
    x = points((0, 0), (1, 0), (3, 0), (0, 2))
    assert knn_radii(x, k=1).tolist() == pytest.approx([1.0, 1.0, 2.0, 2.0])
    assert knn_radii(x, k=2).tolist() == pytest.approx([2.0, 2.0, 3.0, 5**0.5])
    assert knn_radii(x, k=3).tolist() == pytest.approx([3.0, 5**0.5, 13**0.5, 13**0.5])


def test_nearest_neighbour_indices_on_a_hand_example():
    x = points((0, 0), (1, 0), (3, 0), (0, 2))
    distances, indices = nearest_neighbour_distances(points((0.9, 0), (3.2, 0)), x, k=2)
    assert indices.tolist() == [[1, 0], [2, 1]]
    assert indices.dtype == torch.int64
    assert distances.flatten().tolist() == pytest.approx([0.1, 0.9, 0.2, 2.2])


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 7, 100])
def test_nearest_neighbour_distances_match_brute_force_for_any_chunk(chunk_size):
    g = torch.Generator().manual_seed(0)
    query = torch.randn(7, 3, generator=g, dtype=torch.float64)
    reference = torch.randn(10, 3, generator=g, dtype=torch.float64)
    expected = torch.cdist(query, reference).sort(dim=1)
    distances, indices = nearest_neighbour_distances(query, reference, k=4, chunk_size=chunk_size)
    torch.testing.assert_close(distances, expected.values[:, :4], rtol=1e-12, atol=1e-12)
    assert torch.equal(indices, expected.indices[:, :4])


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 11, 100])
def test_exclude_self_matches_brute_force_across_chunk_boundaries(chunk_size):
    x = torch.randn(11, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    full = torch.cdist(x, x)
    full.fill_diagonal_(float("inf"))
    expected = full.sort(dim=1)
    distances, indices = nearest_neighbour_distances(x, x, k=10, exclude_self=True, chunk_size=chunk_size)
    torch.testing.assert_close(distances, expected.values[:, :10], rtol=1e-12, atol=1e-12)
    assert torch.equal(indices, expected.indices[:, :10])
    assert not (indices == torch.arange(11).unsqueeze(1)).any()
    torch.testing.assert_close(knn_radii(x, k=3, chunk_size=chunk_size), expected.values[:, 2], rtol=1e-12, atol=1e-12)


def test_precision_and_recall_differ_on_a_hand_example():
    # real balls (k=1): radius 1 around 0, 1, 2. fake (0.5, 10, 12): radii 9.5, 2, 2.
    # precision: only 0.5 lies in a real ball -> 1/3; it lies in the balls of 0 and 1 -> density (2/3) / 1.
    # recall: the fake ball of radius 9.5 around 0.5 holds every real point -> 1. coverage: balls of 0 and 1 -> 2/3.
    fake = torch.tensor([[0.5, 0.0], [10.0, 0.0], [12.0, 0.0]])
    result = fidelity_diversity(REAL_LINE, fake, k=1)
    assert result.precision == pytest.approx(1 / 3)
    assert result.recall == pytest.approx(1.0)
    assert result.density == pytest.approx(2 / 3)
    assert result.coverage == pytest.approx(2 / 3)


def test_density_exceeds_one_when_samples_crowd_a_dense_region():
    # fake 0.9 and 1.1 each lie in two real balls (of 0 and 1, of 1 and 2): density 2 with k = 1.
    # fake radii are 0.2, so only the real point 1 is inside the generated manifold: recall 1/3, precision 1.
    fake = torch.tensor([[0.9, 0.0], [1.1, 0.0]])
    result = fidelity_diversity(REAL_LINE, fake, k=1)
    assert result.density == pytest.approx(2.0)
    assert result.precision == pytest.approx(1.0)
    assert result.recall == pytest.approx(1 / 3)
    assert result.coverage == pytest.approx(1.0)


def test_covered_real_on_a_hand_example_with_k2():
    # k=2 radii of A(0,0) B(1,0) C(3,0) E(0,2) are 2, 2, 3, sqrt5. (5.5, 0) is 2.5 from C only;
    # (0, -1.9) is 1.9 from A, sqrt(4.61) > 2 from B, sqrt(12.61) > 3 from C, 3.9 from E.
    real = points((0, 0), (1, 0), (3, 0), (0, 2))
    fake = points((5.5, 0), (0, -1.9))
    assert covered_real(real, fake, k=2).tolist() == [True, False, True, False]
    assert fidelity_diversity(real, fake, k=1).coverage == pytest.approx(0.0)  # radii 1, 1, 2, 2 miss both


@pytest.mark.parametrize("chunk_size", [1, 5, 1000])
def test_coverage_from_covered_real_matches_fidelity_diversity(chunk_size):
    g = torch.Generator().manual_seed(2)
    real = torch.randn(40, 3, generator=g)
    fake = torch.randn(30, 3, generator=g) * 0.5 + 0.7
    covered = covered_real(real, fake, k=3, chunk_size=chunk_size)
    assert covered.dtype == torch.bool and covered.shape == (40,)
    result = fidelity_diversity(real, fake, k=3, chunk_size=chunk_size)
    assert result.coverage == pytest.approx(covered.double().mean().item())
    assert 0 < result.coverage < 1


def test_chunk_size_does_not_change_fidelity_diversity():
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(25, 4, generator=g), torch.randn(19, 4, generator=g) + 0.5
    assert fidelity_diversity(real, fake, k=2, chunk_size=1) == fidelity_diversity(real, fake, k=2, chunk_size=7)


def test_identical_sets_are_perfect():
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(4))
    result = fidelity_diversity(x, x.clone(), k=3)
    assert (result.precision, result.recall, result.coverage) == (1.0, 1.0, 1.0)
    assert result.density >= 1 / 3  # each sample at least sits in its own twin's ball


def test_check_features_errors():
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        check_features([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"shape \[N, D\]"):
        check_features(torch.zeros(5))
    with pytest.raises(ValueError, match=r"shape \[N, D\]"):
        check_features(torch.zeros(5, 0))
    with pytest.raises(ValueError, match="float tensor"):
        check_features(torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="too few"):
        check_features(torch.zeros(1, 2), min_count=2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_features(torch.tensor([[0.0, float("inf")]]))


def test_nearest_neighbour_argument_errors():
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="same feature size"):
        nearest_neighbour_distances(x, torch.zeros(4, 3), k=1)
    with pytest.raises(ValueError, match=r"k must be an integer in 1\.\.3"):
        nearest_neighbour_distances(x, x, k=4, exclude_self=True)
    with pytest.raises(ValueError, match=r"k must be an integer in 1\.\.4"):
        nearest_neighbour_distances(x, x, k=0)
    with pytest.raises(ValueError, match="same set of rows"):
        nearest_neighbour_distances(x[:3], x, k=1, exclude_self=True)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        nearest_neighbour_distances(x, x, k=1, chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        knn_radii(x, k=1, chunk_size=True)


def test_fidelity_diversity_needs_more_rows_than_k():
    with pytest.raises(ValueError, match="too few"):
        fidelity_diversity(torch.zeros(1, 2), torch.zeros(3, 2), k=1)
    with pytest.raises(ValueError, match=r"k must be an integer in 1\.\.2"):
        fidelity_diversity(REAL_LINE, REAL_LINE, k=3)
