import math

import pytest
import torch

from utils.vae import (
    VAE,
    VAEConfig,
    bernoulli_log_likelihood,
    dynamic_binarize,
    elbo,
    gaussian_kl,
    gaussian_log_density,
    importance_weighted_bound,
    log_importance_weights,
    mean_negative_elbo,
    negative_elbo_loss,
)
from utils.train import train_steps


def binary_digits(n: int = 64) -> torch.Tensor:
    from utils.data import load_mnist

    return dynamic_binarize(load_mnist("test")[0][:n], generator=torch.Generator().manual_seed(0))


def test_shapes_of_encode_decode_sample_and_forward():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    x = binary_digits(5)
    mean, logvar = model.encode(x)
    assert mean.shape == logvar.shape == (5, 8)
    logits, mean2, _ = model(x)
    assert logits.shape == (5, 1, 28, 28) and torch.equal(mean, mean2)
    images = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, model.sample(3, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(model.decode(torch.zeros(2, 8)), torch.sigmoid(model.decode_logits(torch.zeros(2, 8))))


def test_wrong_shapes_are_clear_errors():
    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    with pytest.raises(ValueError, match=r"images must have shape \[N, 1, 28, 28\]"):
        model.encode(torch.rand(2, 784))
    with pytest.raises(ValueError, match=r"expected latents \[N, 8\]"):
        model.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        bernoulli_log_likelihood(torch.zeros(2, 1, 28, 28), torch.zeros(3, 1, 28, 28))
    with pytest.raises(ValueError, match="k must be at least 1"):
        importance_weighted_bound(model, binary_digits(2), k=0)
    with pytest.raises(ValueError, match="images must be a float tensor"):
        dynamic_binarize(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_dynamic_binarize_samples_pixels_with_their_intensity():
    x = torch.full((2000, 1, 28, 28), 0.3)
    b = dynamic_binarize(x, generator=torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert b.mean().item() == pytest.approx(0.3, abs=0.005)
    assert (
        dynamic_binarize(torch.ones(1, 1, 28, 28)).min() == 1 and dynamic_binarize(torch.zeros(1, 1, 28, 28)).max() == 0
    )


def test_bernoulli_log_likelihood_by_hand():
    logits = torch.zeros(1, 1, 28, 28)  # p = 0.5 everywhere: each pixel costs log 2
    assert bernoulli_log_likelihood(logits, torch.ones(1, 1, 28, 28)).item() == pytest.approx(-784 * math.log(2))
    confident = torch.full((1, 1, 28, 28), 20.0)
    assert bernoulli_log_likelihood(confident, torch.ones(1, 1, 28, 28)).item() == pytest.approx(0.0, abs=1e-4)


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g) * 0.5
    z = mean + torch.randn(200_000, 3, 4, generator=g) * (0.5 * logvar).exp()
    zeros = torch.zeros_like(mean)
    monte_carlo = (gaussian_log_density(z, mean, logvar) - gaussian_log_density(z, zeros, zeros)).mean(0)
    assert torch.allclose(gaussian_kl(mean, logvar), monte_carlo, atol=0.02)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(3))  # q = p


def test_gaussian_log_density_of_a_standard_normal_at_zero():
    assert gaussian_log_density(torch.zeros(5), torch.zeros(5), torch.zeros(5)).item() == pytest.approx(
        -2.5 * math.log(2 * math.pi)
    )


def test_importance_weighted_bound_is_never_looser_than_the_elbo_from_the_same_samples():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    x = binary_digits(16)
    log_weights = log_importance_weights(model, x, k=50, chunk=7, generator=torch.Generator().manual_seed(1))
    assert log_weights.shape == (50, 16)
    bound = torch.logsumexp(log_weights, dim=0) - math.log(50)
    assert (bound >= log_weights.mean(0) - 1e-4).all()
    same = importance_weighted_bound(model, x, k=50, chunk=7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(same, bound)
    # the mean log-weight is an unbiased estimate of the ELBO (reconstruction minus closed-form KL)
    many = log_importance_weights(model, x[:2], k=4000, generator=torch.Generator().manual_seed(2)).mean(0)
    torch.manual_seed(3)
    terms = [elbo(model, x[:2]).value for _ in range(400)]
    assert torch.allclose(many, torch.stack(terms).mean(0), rtol=0.01)


def test_training_lowers_the_negative_elbo_on_a_fixed_batch():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden=64))
    x = binary_digits(64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = negative_elbo_loss(model, x).item()
    train_steps(model, negative_elbo_loss, lambda: (x,), optimizer=optimizer, steps=100, progress=False)
    assert negative_elbo_loss(model, x).item() < first - 200  # from about 543 nats (784 log 2) to far lower
    assert first == pytest.approx(784 * math.log(2), rel=0.05)


def test_beta_scales_the_kl_term():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    x = binary_digits(4)
    torch.manual_seed(1)
    plain = elbo(model, x)
    torch.manual_seed(1)
    scaled = elbo(model, x, beta=4.0)
    assert torch.allclose(scaled.kl, 4 * plain.kl) and torch.allclose(scaled.reconstruction, plain.reconstruction)


def test_conditional_vae_uses_its_labels_and_checks_them():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden=32, num_classes=10))
    x, labels = binary_digits(6), torch.arange(6)
    mean, logvar = model.encode(x, labels)
    assert mean.shape == logvar.shape == (6, 4)
    assert not torch.allclose(model.encode(x, labels)[0], model.encode(x, (labels + 1) % 10)[0])
    z = torch.zeros(2, 4)
    assert not torch.allclose(model.decode(z, torch.tensor([3, 3])), model.decode(z, torch.tensor([7, 7])))
    assert model.sample(2, labels=torch.tensor([1, 2])).shape == (2, 1, 28, 28)
    assert negative_elbo_loss(model, x, labels).dim() == 0
    with pytest.raises(ValueError, match="conditional: pass int64 labels of shape \\[6\\]"):
        model.encode(x)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        model.decode(z, torch.tensor([3, 10]))
    with pytest.raises(ValueError, match="unconditional: pass no labels"):
        VAE(VAEConfig(latent_dim=4, hidden=32)).decode(z, torch.tensor([1, 2]))


def test_binarized_test_set_is_fixed_binary_and_as_bright_as_mnist():
    from utils.data import load_mnist
    from utils.vae import binarized_mnist_test

    a, b = binarized_mnist_test(), binarized_mnist_test()
    assert a.shape == (10000, 1, 28, 28) and torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(a, binarized_mnist_test(seed=1))
    assert a.mean().item() == pytest.approx(load_mnist("test")[0].mean().item(), abs=0.002)


def test_mean_negative_elbo_is_seeded_and_matches_the_elbo_terms():
    from utils.vae import mean_negative_elbo

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden=32)).train()
    x = binary_digits(10)
    value = mean_negative_elbo(model, x, seed=3, batch_size=4)
    assert value == mean_negative_elbo(model, x, seed=3) and model.training
    torch.manual_seed(3)
    assert value == pytest.approx(-elbo(model, x).value.mean().item(), rel=1e-5)


def test_mean_negative_elbo_leaves_the_callers_random_numbers_alone():
    """A training loop that evaluates between epochs must not get its batches and noise reseeded (DP-SGD would then
    draw the same noise after every evaluation)."""
    from utils.vae import mean_negative_elbo

    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    x = binary_digits(6)
    torch.manual_seed(11)
    expected = torch.rand(5)
    torch.manual_seed(11)
    mean_negative_elbo(model, x, seed=0)
    assert torch.equal(torch.rand(5), expected)


def test_bernoulli_log_likelihood_refuses_pixels_outside_0_1_and_non_finite_values():
    logits = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"images must have values in \[0, 1\], found \[0, 255\]"):
        bernoulli_log_likelihood(logits, torch.full((2, 1, 28, 28), 255.0).index_fill(0, torch.tensor([0]), 0.0))
    with pytest.raises(ValueError, match=r"images must have values in \[0, 1\], found \[nan"):
        bernoulli_log_likelihood(logits, torch.full((2, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="images must be a float tensor"):
        bernoulli_log_likelihood(logits, torch.ones(2, 1, 28, 28, dtype=torch.long))
    with pytest.raises(ValueError, match="logits contain NaN or infinite values"):
        bernoulli_log_likelihood(torch.full((2, 1, 28, 28), float("nan")), torch.ones(2, 1, 28, 28))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        bernoulli_log_likelihood([0.0], torch.ones(2, 1, 28, 28))


def test_elbo_and_friends_refuse_0_255_pixels():
    model = VAE(VAEConfig(latent_dim=4, hidden=16))
    pixels = binary_digits(3) * 255
    for loss in (
        lambda: elbo(model, pixels),
        lambda: negative_elbo_loss(model, pixels),
        lambda: mean_negative_elbo(model, pixels),
        lambda: importance_weighted_bound(model, pixels, k=2),
        lambda: log_importance_weights(model, pixels, k=2),
    ):
        with pytest.raises(ValueError, match=r"images must have values in \[0, 1\], found \[0, 255\]"):
            loss()


def test_bad_sizes_and_settings_are_refused():
    with pytest.raises(ValueError, match="latent_dim must be at least 1, got 0"):
        VAE(VAEConfig(latent_dim=0))
    with pytest.raises(ValueError, match="hidden must be at least 1, got -3"):
        VAE(VAEConfig(hidden=-3))
    with pytest.raises(ValueError, match="num_classes must be >= 0"):
        VAE(VAEConfig(num_classes=-1))
    model = VAE(VAEConfig(latent_dim=4, hidden=16))
    x = binary_digits(3)
    with pytest.raises(ValueError, match="beta must be finite and >= 0, got nan"):
        elbo(model, x, beta=float("nan"))
    with pytest.raises(ValueError, match="beta must be finite and >= 0, got -1"):
        elbo(model, x, beta=-1.0)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        mean_negative_elbo(model, x, batch_size=0)
    with pytest.raises(ValueError, match="0 images are too few"):
        mean_negative_elbo(model, x[:0])
    with pytest.raises(ValueError, match="chunk must be at least 1, got 0"):
        importance_weighted_bound(model, x, k=2, chunk=0)
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        model.sample(0)
    with pytest.raises(ValueError, match="latents contain NaN"):
        model.decode(torch.full((2, 4), float("nan")))
    with pytest.raises(ValueError, match=r"same shape \[N, latent_dim\]"):
        gaussian_kl(torch.zeros(3), torch.zeros(3))
