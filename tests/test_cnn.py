import pytest
import torch

from utils.cnn import CNN, CNNConfig


def test_cnn_maps_images_to_logits_and_features():
    model = CNN().eval()
    x = torch.rand(4, 1, 28, 28)
    assert model(x).shape == (4, 10)
    assert model.features(x).shape == (4, 128)
    assert (model.features(x) >= 0).all()  # features are taken after the ReLU


def test_logits_are_the_head_applied_to_the_features():
    model = CNN(CNNConfig(hidden=32)).eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(model(x), model.head(model.features(x)))


def test_parameter_count_follows_the_config():
    model = CNN(CNNConfig(channels=(4, 8), kernel_size=3, hidden=16, num_classes=5))
    expected = (1 * 4 * 9 + 4) + 2 * 4 + (4 * 8 * 9 + 8) + 2 * 8 + (8 * 7 * 7 * 16 + 16) + (16 * 5 + 5)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected images \[B, 1, 28, 28\], got shape \(2, 784\)"):
        CNN()(torch.rand(2, 784))
    with pytest.raises(ValueError, match="divisible by 4"):
        CNN(CNNConfig(image_size=30))


def test_sizes_no_cnn_can_have_are_refused():
    with pytest.raises(ValueError, match="kernel_size must be odd .*got 4"):
        CNN(CNNConfig(kernel_size=4))
    with pytest.raises(ValueError, match=r"channels must be two positive numbers of channels, got \(0, 8\)"):
        CNN(CNNConfig(channels=(0, 8)))
    with pytest.raises(ValueError, match="hidden must be at least 1, got 0"):
        CNN(CNNConfig(hidden=0))
    with pytest.raises(ValueError, match="std finite and positive, got 0.1307 and 0.0"):
        CNN(CNNConfig(std=0.0))  # was NaN logits
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got nan"):
        CNN(CNNConfig(dropout=float("nan")))
    with pytest.raises(ValueError, match="divisible by 4"):
        CNN(CNNConfig(image_size=0))
