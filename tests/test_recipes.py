"""utils.recipes: the shipped image models' training recipes, on a few hundred digits."""

from __future__ import annotations

import pytest
import torch

from utils.cnn import CNN, CNNConfig
from utils.data import load_mnist
from utils.gan import Discriminator, GANConfig, Generator
from utils.recipes import ClassifierRecipe, DCGANRecipe, VAERecipe, train_classifier, train_dcgan, train_vae
from utils.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def digits():
    images, labels = load_mnist("test")
    return images[:512], labels[:512]


def small_cnn() -> CNN:
    torch.manual_seed(0)
    return CNN(CNNConfig(channels=(4, 8), hidden=16))


def test_train_classifier_learns_validates_every_epoch_and_is_reproducible(digits):
    images, labels = digits
    recipe = ClassifierRecipe(epochs=3, batch_size=64, max_lr=5e-3)
    seen = []

    def eval_fn(model):
        seen.append(model.training)
        return {"val_acc": 0.5}

    model = small_cnn()
    history = train_classifier(model, images, labels, recipe, generator=torch.Generator().manual_seed(0),
                               eval_fn=eval_fn, progress=False)
    assert len(history.step_loss) == 3 * 8 and seen == [False, False, False]
    assert history.metric("val_acc") == [0.5] * 3
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"] - 0.15  # nats: it learns
    again = small_cnn()
    train_classifier(again, images, labels, recipe, generator=torch.Generator().manual_seed(0), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_train_classifier_shifts_the_digits_with_its_own_generator(digits):
    images, labels = digits
    recipe = ClassifierRecipe(epochs=1, batch_size=128)
    weights = {}
    for shift, seed in ((0, 1), (2, 1), (2, 2)):
        model = small_cnn()
        train_classifier(model, images, labels, replace_shift(recipe, shift), generator=torch.Generator().manual_seed(0),
                         shift_generator=torch.Generator().manual_seed(seed), progress=False)
        weights[shift, seed] = model.head[1].weight.detach().clone()
    assert not torch.equal(weights[0, 1], weights[2, 1]), "max_shift moves the digits"
    assert not torch.equal(weights[2, 1], weights[2, 2]), "the shifts come from shift_generator"


def replace_shift(recipe: ClassifierRecipe, max_shift: int) -> ClassifierRecipe:
    from dataclasses import replace

    return replace(recipe, max_shift=max_shift)


def test_train_dcgan_returns_the_averaged_generator_or_the_trained_one(digits):
    images, _ = digits
    config = GANConfig(width=8)
    torch.manual_seed(0)
    generator = Generator(config)
    sampler, history = train_dcgan(generator, Discriminator(config), images, DCGANRecipe(epochs=2, batch_size=128),
                                   rng=torch.Generator().manual_seed(0), progress=False)
    assert len(history.g_loss) == 2 * (512 // 128)
    assert sampler is not generator and not sampler.training
    assert not any(p.requires_grad for p in sampler.parameters())
    assert not torch.equal(sampler.project[0].weight, generator.project[0].weight), "an average, not a copy"
    plain, _ = train_dcgan(generator, Discriminator(config), images, DCGANRecipe(epochs=1, batch_size=128,
                                                                                ema_decay=None), progress=False)
    assert plain is generator


def test_train_dcgan_trains_a_conditional_pair_with_labels(digits):
    images, labels = digits
    config = GANConfig(width=8, num_classes=10)
    sampler, history = train_dcgan(Generator(config), Discriminator(config), images, DCGANRecipe(epochs=1),
                                   labels=labels, progress=False)
    assert len(history.d_loss) == 512 // 64
    assert sampler.sample(4, labels=torch.tensor([0, 1, 2, 3])).shape == (4, 1, 28, 28)


def test_train_vae_minimises_the_negative_elbo_and_beta_weights_the_kl(digits):
    images, labels = digits
    first_losses = {}
    for beta in (1.0, 4.0):
        torch.manual_seed(0)
        model = VAE(VAEConfig(latent_dim=4, hidden=32))
        history = train_vae(model, images, VAERecipe(epochs=3, batch_size=32, beta=beta),
                            generator=torch.Generator().manual_seed(0), progress=False)
        first_losses[beta] = history.step_loss[0]
        assert len(history.step_loss) == 3 * 16
        assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"] - 50  # nats per image
    assert first_losses[4.0] > first_losses[1.0], "the same first batch costs more with beta = 4"
    conditional = VAE(VAEConfig(latent_dim=4, hidden=32, num_classes=10))
    history = train_vae(conditional, images, VAERecipe(epochs=1, batch_size=64), labels=labels, progress=False)
    assert len(history.step_loss) == 8
