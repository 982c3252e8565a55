import math

import pytest
import torch

from utils.unet import ResBlock, TimeEmbedding, UNet, UNetConfig, sinusoidal_embedding


def test_sinusoidal_embedding_by_hand():
    e = sinusoidal_embedding(torch.tensor([0.0, 0.001]), 4)
    # frequencies 1 and 1/100 (max_period 10,000, dim 4); angles 1000 t * frequency
    assert e.shape == (2, 4)
    assert torch.allclose(e[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.allclose(e[1], torch.tensor([math.cos(1), math.cos(0.01), math.sin(1), math.sin(0.01)]), atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.zeros(2), 5)
    with pytest.raises(ValueError, match=r"times \[B\]"):
        sinusoidal_embedding(torch.zeros(2, 1), 4)


def test_time_embedding_uses_the_null_row_without_labels():
    emb = TimeEmbedding(8, num_classes=10)
    t = torch.rand(3)
    assert torch.equal(emb(t), emb(t, torch.full((3,), 10)))
    assert not torch.equal(emb(t, torch.tensor([0, 1, 2])), emb(t))
    assert TimeEmbedding(8)(t).shape == (3, 8)


def test_resblock_starts_as_a_skip_connection():
    block = ResBlock(8, 16, embed_dim=4, groups=4)
    x = torch.randn(2, 8, 7, 7)
    assert torch.allclose(block(x, torch.randn(2, 4)), block.skip(x))  # the last conv starts at zero


def test_unet_maps_images_to_velocities_and_starts_at_zero():
    model = UNet(UNetConfig(channels=(8, 16, 16), embed_dim=16, num_classes=10))
    x, t = torch.randn(3, 1, 28, 28), torch.rand(3)
    out = model(x, t, torch.tensor([0, 5, 10]))
    assert out.shape == (3, 1, 28, 28) and out.abs().max() == 0  # zero-initialised output layer
    for module in model.modules():  # leave the identity-at-start initialisation behind
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.2)
    labels = torch.tensor([0, 5, 9])
    assert not torch.allclose(model(x, t, labels), model(x, t, torch.tensor([1, 6, 8])))  # the label matters
    assert not torch.allclose(model(x, t, labels), model(x, t.flip(0), labels))  # the time matters
    # every pixel of the output can depend on the whole input: the U-Net's receptive field spans the image
    x.requires_grad_(True)
    model(x, t, labels)[0, 0, 0, 0].backward()
    assert x.grad[0, 0, -1, -1] != 0 and x.grad[1:].abs().sum() == 0  # and images do not mix


def test_unet_refuses_wrong_inputs():
    model = UNet(UNetConfig(channels=(8, 16), embed_dim=16))
    with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"):
        model(torch.randn(2, 3, 28, 28), torch.rand(2))
    with pytest.raises(ValueError, match=r"times \[B\] = \[2\]"):
        model(torch.randn(2, 1, 28, 28), torch.rand(3))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(2, 1, 28, 28), torch.rand(2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="multiple of groups"):
        UNet(UNetConfig(channels=(12, 16)))


def test_sizes_no_unet_can_have_are_refused():
    with pytest.raises(ValueError, match=r"channels must be one or more positive numbers of channels, got \(\)"):
        UNet(UNetConfig(channels=()))
    with pytest.raises(ValueError, match=r"channels must be one or more positive.*got \(0, 8\)"):
        UNet(UNetConfig(channels=(0, 8), groups=4))
    with pytest.raises(ValueError, match="groups must be at least 1, got 0"):
        UNet(UNetConfig(groups=0))
    with pytest.raises(ValueError, match="the embedding dimension must be even and at least 2, got 0"):
        UNet(UNetConfig(embed_dim=0))
    with pytest.raises(ValueError, match="the embedding dimension must be even and at least 2, got 7"):
        TimeEmbedding(7)
    with pytest.raises(ValueError, match="num_classes must be >= 0"):
        UNet(UNetConfig(num_classes=-1))
    with pytest.raises(ValueError, match="the embedding dimension must be even and at least 2, got 0"):
        sinusoidal_embedding(torch.zeros(2), 0)
