import pytest
import torch

from utils.memorisation import COPY_THRESHOLD, CopyTest, copy_test

TRAIN = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 5.0]])


def test_exact_copies_have_ratio_zero_and_the_right_nearest_index():
    result = copy_test(TRAIN[[2, 0]].clone(), TRAIN)
    assert isinstance(result, CopyTest)
    assert result.ratio.tolist() == [0.0, 0.0]
    assert result.nearest.tolist() == [2, 0]
    assert result.nearest.dtype == torch.int64
    assert result.nearest_distance.tolist() == [0.0, 0.0]
    assert result.is_copy.tolist() == [True, True]
    assert result.copy_fraction == 1.0


def test_a_point_between_two_training_points_has_ratio_one():
    result = copy_test(torch.tensor([[1.0, 0.0]]), TRAIN)
    assert result.ratio.tolist() == [1.0]
    assert result.nearest_distance.tolist() == [1.0]
    assert result.nearest.item() in (0, 1)
    assert result.is_copy.tolist() == [False]


def test_ratio_by_hand_and_threshold():
    # (0.4, 0): 0.4 from (0,0), 1.6 from (2,0) -> 0.25 < 1/3; (0.6, 0): 0.6 / 1.4 = 3/7 > 1/3
    result = copy_test(torch.tensor([[0.4, 0.0], [0.6, 0.0]]), TRAIN)
    assert result.ratio.tolist() == pytest.approx([0.25, 3 / 7])
    assert result.nearest.tolist() == [0, 0]
    assert result.is_copy.tolist() == [True, False]
    assert result.copy_fraction == 0.5
    assert copy_test(torch.tensor([[0.6, 0.0]]), TRAIN, threshold=0.5).is_copy.tolist() == [True]


def test_default_threshold_is_one_third():
    # ratios just either side of 1/3 on a line: 0.99 / 3.01 = 0.3289 and 1.01 / 2.99 = 0.3378
    train = torch.tensor([[0.0], [4.0]])
    result = copy_test(torch.tensor([[0.99], [1.01]]), train)
    assert result.ratio.tolist() == pytest.approx([0.99 / 3.01, 1.01 / 2.99])
    assert result.is_copy.tolist() == [True, False]
    assert result.ratio[0] < COPY_THRESHOLD < result.ratio[1]


def test_a_copy_of_a_duplicated_training_row_has_ratio_zero_not_nan():
    train = torch.tensor([[1.0, 1.0], [1.0, 1.0], [4.0, 5.0]])
    result = copy_test(torch.tensor([[1.0, 1.0]]), train)
    assert result.ratio.tolist() == [0.0]
    assert result.is_copy.tolist() == [True]
    assert result.nearest.item() in (0, 1)


def test_a_duplicated_row_is_a_copy_in_large_sets_too():
    # with more than 25 rows cdist uses a matrix product whose rounding made the 0 / 0 of a duplicated row ~1
    g = torch.Generator().manual_seed(2)
    train = torch.randn(40, 784, generator=g) + 3
    train[5] = train[3]
    result = copy_test(train[[3, 7, 10]].clone(), train)
    assert result.ratio.tolist() == [0.0, 0.0, 0.0]
    assert result.nearest_distance.tolist() == [0.0, 0.0, 0.0]
    assert result.nearest[0].item() in (3, 5) and result.nearest[1:].tolist() == [7, 10]


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan")])
def test_threshold_must_be_in_zero_one(threshold):
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\]"):
        copy_test(TRAIN, TRAIN, threshold=threshold)


def test_threshold_one_is_allowed():
    assert copy_test(torch.tensor([[1.0, 0.0]]), TRAIN, threshold=1.0).is_copy.tolist() == [False]


def test_feature_errors():
    with pytest.raises(ValueError, match="same feature size"):
        copy_test(torch.zeros(2, 3), TRAIN)
    with pytest.raises(ValueError, match="samples contains NaN"):
        copy_test(torch.tensor([[float("nan"), 0.0]]), TRAIN)


def test_results_do_not_depend_on_chunk_size():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(31, 6, generator=g)
    samples = torch.cat([torch.randn(27, 6, generator=g), train[[4, 30]]])
    reference = copy_test(samples, train, chunk_size=1)
    for chunk_size in (3, 28, 1000):
        result = copy_test(samples, train, chunk_size=chunk_size)
        torch.testing.assert_close(result.ratio, reference.ratio)
        torch.testing.assert_close(result.nearest_distance, reference.nearest_distance)
        assert torch.equal(result.nearest, reference.nearest)
        assert torch.equal(result.is_copy, reference.is_copy)
    assert reference.nearest[-2:].tolist() == [4, 30]
    assert reference.is_copy[-2:].tolist() == [True, True]
