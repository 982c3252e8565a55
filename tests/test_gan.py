import math

import pytest
import torch
from torch import nn

from utils.gan import (
    EMA,
    Discriminator,
    GANConfig,
    Generator,
    discriminator_loss,
    generator_loss,
    to_gan_range,
    to_unit_range,
)


def test_generator_maps_noise_to_images_in_minus_one_one():
    torch.manual_seed(0)
    images = Generator()(torch.randn(5, 64) * 10)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1


def test_sample_returns_unit_range_images_reproducibly_and_keeps_mode():
    model = Generator()
    a = model.sample(4, generator=torch.Generator().manual_seed(0))
    b = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 1, 28, 28) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)
    assert model.training


def test_discriminator_gives_one_logit_per_image():
    assert Discriminator()(torch.rand(3, 1, 28, 28)).shape == (3,)
    assert Discriminator(GANConfig(spectral_norm=True))(torch.rand(3, 1, 28, 28)).shape == (3,)


def test_conditional_models_use_their_labels():
    torch.manual_seed(0)
    config = GANConfig(num_classes=10)
    generator, discriminator = Generator(config).eval(), Discriminator(config)
    z = torch.randn(2, 64)
    same_noise = generator(z[:1].repeat(2, 1), torch.tensor([3, 7]))
    assert not torch.allclose(same_noise[0], same_noise[1])  # the label changes the image
    images = torch.rand(2, 1, 28, 28)
    assert not torch.allclose(discriminator(images, torch.tensor([0, 0])), discriminator(images, torch.tensor([1, 1])))


def test_wrong_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"expected noise \[B, 64\]"):
        Generator()(torch.randn(2, 32))
    with pytest.raises(ValueError, match=r"expected images \[B, 1, 28, 28\]"):
        Discriminator()(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="unconditional: pass no labels"):
        Generator()(torch.randn(2, 64), torch.tensor([1, 2]))
    conditional = Generator(GANConfig(num_classes=10))
    with pytest.raises(ValueError, match="class-conditional: pass labels"):
        conditional(torch.randn(2, 64))
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        conditional(torch.randn(2, 64), torch.tensor([1, 10]))
    with pytest.raises(ValueError, match=r"labels must be int64 of shape \[2\]"):
        conditional(torch.randn(2, 64), torch.tensor([1.0, 2.0]))


def test_losses_on_hand_computed_logits():
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert discriminator_loss(real, fake, "hinge").item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert generator_loss(fake, "hinge").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown loss kind 'wgan'"):
        discriminator_loss(real, fake, "wgan")
    with pytest.raises(ValueError, match="unknown loss kind"):
        generator_loss(fake, "wgan")


def test_non_saturating_loss_keeps_gradients_when_the_discriminator_wins():
    fake_logits = torch.tensor([-8.0], requires_grad=True)  # D is sure the sample is fake
    generator_loss(fake_logits).backward()
    minimax = torch.tensor([-8.0], requires_grad=True)
    # the original minimax generator loss log(1 - D(G(z))) = -softplus(logit), whose gradient vanishes here
    (-torch.nn.functional.softplus(minimax)).sum().backward()
    assert abs(fake_logits.grad.item()) > 100 * abs(minimax.grad.item())


@pytest.mark.parametrize("kind", ["bce", "hinge"])
def test_a_discriminator_step_lowers_its_loss_on_a_fixed_batch(kind):
    torch.manual_seed(0)
    discriminator = Discriminator()
    real = to_gan_range(torch.rand(16, 1, 28, 28) ** 4)  # sparse, digit-like
    fake = torch.zeros(16, 1, 28, 28).uniform_(-1, 1)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    before = discriminator_loss(discriminator(real), discriminator(fake), kind).item()
    for _ in range(5):
        loss = discriminator_loss(discriminator(real), discriminator(fake), kind)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert discriminator_loss(discriminator(real), discriminator(fake), kind).item() < before


def test_range_conversions_are_inverse():
    images = torch.rand(3, 1, 28, 28)
    assert torch.allclose(to_unit_range(to_gan_range(images)), images)
    assert to_unit_range(torch.tensor([-2.0, 2.0])).tolist() == [0.0, 1.0]


def test_ema_moves_towards_the_weights_and_copies_buffers():
    model = nn.BatchNorm1d(2)
    ema = EMA(model, decay=0.75)
    with torch.no_grad():
        model.weight.fill_(5.0)  # ema starts at 1.0
        model.running_mean.fill_(3.0)
    ema.update(model)
    assert ema.model.weight.tolist() == [2.0, 2.0]  # 0.75 * 1 + 0.25 * 5
    assert ema.model.running_mean.tolist() == [3.0, 3.0]
    assert not ema.model.training and not any(p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(model, decay=1.0)
