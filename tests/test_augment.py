import pytest
import torch

from utils.augment import random_shift, shift_images


def dot_image(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, row, col] = 1.0
    return image


def test_shift_moves_content_by_whole_pixels():
    moved = shift_images(dot_image(4, 4), torch.tensor([[2, -3]]))  # right 2, up 3
    assert moved[0, 0].nonzero().tolist() == [[1, 6]]


def test_zero_shift_is_the_identity_and_content_leaving_is_dropped():
    image = torch.rand(2, 1, 9, 9)
    assert torch.equal(shift_images(image, torch.zeros(2, 2)), image)
    assert shift_images(dot_image(4, 8), torch.tensor([[1, 0]])).sum() == 0


def test_random_shift_stays_within_bounds_and_is_reproducible():
    images = dot_image(4, 4).repeat(200, 1, 1, 1)
    shifted = random_shift(images, max_shift=2, generator=torch.Generator().manual_seed(0))
    positions = shifted[:, 0].flatten(1).argmax(dim=1)
    rows, cols = positions // 9, positions % 9
    assert shifted.sum() == 200  # every dot still inside the image
    assert rows.min() == 2 and rows.max() == 6 and cols.min() == 2 and cols.max() == 6  # all 5 offsets occur
    again = random_shift(images, max_shift=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(shifted, again)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="max_shift must be >= 0"):
        random_shift(torch.zeros(1, 1, 4, 4), max_shift=-1)
    with pytest.raises(ValueError, match=r"shifts \[N, 2\]"):
        shift_images(torch.zeros(2, 1, 4, 4), torch.zeros(3, 2))
