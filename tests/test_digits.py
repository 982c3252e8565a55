"""utils.digits: the one check of the course's digit images, and where the models use it."""

from __future__ import annotations

import math

import pytest
import torch

from utils.digits import MNIST_MEAN, MNIST_STD, check_digit_images


def test_mnist_mean_and_std_are_the_training_pixels_statistics():
    from utils.data import load_mnist

    pixels = load_mnist("train")[0]
    assert pixels.mean().item() == pytest.approx(MNIST_MEAN, abs=1e-4)
    assert pixels.std().item() == pytest.approx(MNIST_STD, abs=1e-4)


def test_valid_batches_pass_whatever_their_size_down_to_the_minimum():
    check_digit_images(torch.rand(3, 1, 28, 28), min_count=3)
    check_digit_images(torch.zeros(1, 1, 28, 28))
    check_digit_images(torch.ones(2, 1, 28, 28, dtype=torch.float64))


@pytest.mark.parametrize(
    "images, error, message",
    [
        ([[0.0]], TypeError, "images must be a torch.Tensor"),
        (torch.rand(5, 28, 28), ValueError, r"images must have shape \[N, 1, 28, 28\], got \(5, 28, 28\)"),
        (torch.rand(5, 3, 28, 28), ValueError, r"shape \[N, 1, 28, 28\]"),
        (torch.randint(0, 2, (5, 1, 28, 28)), ValueError, "must be a float tensor .* got dtype torch.int64"),
        (torch.rand(5, 1, 28, 28) * 255, ValueError, r"values in \[0, 1\], found .*divide 0-255 pixels by 255"),
        (torch.rand(5, 1, 28, 28) * 2 - 1, ValueError, r"found \[-.*\(x \+ 1\) / 2"),
        (torch.full((5, 1, 28, 28), math.nan), ValueError, r"values in \[0, 1\].*NaNs"),
        (torch.full((5, 1, 28, 28), math.inf), ValueError, r"values in \[0, 1\]"),
    ],
)
def test_bad_images_get_an_error_that_says_what_to_do(images, error, message):
    with pytest.raises(error, match=message):
        check_digit_images(images)


def test_too_few_images_name_the_argument_and_the_minimum():
    with pytest.raises(ValueError, match="samples: 10 images are too few; this needs at least 65"):
        check_digit_images(torch.rand(10, 1, 28, 28), "samples", min_count=65)


def test_the_vae_and_the_gan_loop_refuse_pixels_outside_the_unit_range():
    from utils.gan import Discriminator, GANConfig, Generator, train_gan
    from utils.vae import VAE, VAEConfig, elbo

    raw = torch.randint(0, 256, (4, 1, 28, 28)).float()  # 0-255 pixels, not divided by 255
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        elbo(VAE(VAEConfig(latent_dim=2, hidden=8)), raw)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        train_gan(Generator(GANConfig(width=8)), Discriminator(GANConfig(width=8)), raw / 127.5 - 1, epochs=1)
