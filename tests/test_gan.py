import math

import pytest
import torch
from torch import nn

from utils.gan import (
    EMA,
    Discriminator,
    GANConfig,
    GANHistory,
    Generator,
    ImageGenerator,
    _recent_means,
    discriminator_loss,
    generator_loss,
    to_gan_range,
    to_unit_range,
    train_gan,
)
from utils.train import train_steps


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
    with torch.no_grad():
        generator.class_bias.weight[7] += 1.0  # once a class's bias has been learned ...
    z = torch.randn(2, 64)
    same_noise = generator(z[:1].repeat(2, 1), torch.tensor([3, 7]))
    assert not torch.allclose(same_noise[0], same_noise[1])  # ... the label changes the image
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

    def loss_fn(model: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return discriminator_loss(model(real), model(fake), kind)

    history = train_steps(discriminator, loss_fn, lambda: (real, fake), optimizer=optimizer, steps=5, progress=False)
    assert history.step_loss[0] == pytest.approx(before, rel=1e-6)
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


def tiny_digits(n: int = 64) -> torch.Tensor:
    from utils.data import load_mnist

    return load_mnist("test")[0][:n]


def test_train_gan_records_one_entry_per_step_and_a_snapshot_per_epoch():
    torch.manual_seed(0)
    config = GANConfig(width=16)
    generator, discriminator = Generator(config), Discriminator(config)
    ema = EMA(generator, decay=0.9)
    fixed = torch.randn(4, config.latent_dim)
    history = train_gan(
        generator,
        discriminator,
        tiny_digits(),
        epochs=2,
        batch_size=16,
        ema=ema,
        fixed_noise=fixed,
        rng=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert len(history.d_loss) == len(history.g_loss) == len(history.d_real) == len(history.d_fake) == 8
    assert all(0 <= p <= 1 for p in history.d_real + history.d_fake)
    assert len(history.snapshots) == 2 and history.snapshots[0].shape == (4, 1, 28, 28)
    assert history.snapshot_steps == [4, 8]
    assert history.snapshots[0].min() >= 0 and history.snapshots[0].max() <= 1
    assert not torch.equal(ema.model.project[0].weight, generator.project[0].weight)  # the average lags behind


def test_discriminator_learns_to_separate_real_from_a_frozen_generator():
    torch.manual_seed(0)
    config = GANConfig(width=16)
    generator, discriminator = Generator(config), Discriminator(config)
    history = train_gan(
        generator,
        discriminator,
        tiny_digits(256),
        epochs=3,
        batch_size=32,
        lr_g=0.0,
        lr_d=1e-3,
        rng=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert history.d_real[-1] > 0.9 and history.d_fake[-1] < 0.1  # an untrained generator is easy to spot


def test_conditional_training_needs_labels_and_bad_arguments_are_rejected():
    conditional = GANConfig(width=16, num_classes=10)
    images = tiny_digits(32)
    with pytest.raises(ValueError, match="labels exactly when"):
        train_gan(Generator(conditional), Discriminator(conditional), images, epochs=1, progress=False)
    history = train_gan(
        Generator(conditional),
        Discriminator(conditional),
        images,
        labels=torch.arange(32) % 10,
        epochs=1,
        batch_size=16,
        fixed_noise=torch.randn(10, 64),
        progress=False,
    )
    assert len(history.d_loss) == 2 and history.snapshots[0].shape == (10, 1, 28, 28)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train_gan(Generator(), Discriminator(), images, epochs=0, progress=False)
    with pytest.raises(ValueError, match=r"images must have shape \[N, 1, 28, 28\]"):
        train_gan(Generator(), Discriminator(), images[:, 0], epochs=1, progress=False)


def test_sample_is_render_of_noise_drawn_from_the_generator():
    model = Generator()
    z = torch.randn(3, 64, generator=torch.Generator().manual_seed(5))
    rendered = model.render(z)
    assert torch.equal(model.sample(3, generator=torch.Generator().manual_seed(5)), rendered)
    assert rendered.min() >= 0 and rendered.max() <= 1 and model.training


def test_snapshots_every_k_steps_and_bad_intervals_are_rejected():
    history = train_gan(
        Generator(GANConfig(width=16)),
        Discriminator(GANConfig(width=16)),
        tiny_digits(64),
        epochs=2,
        batch_size=16,
        fixed_noise=torch.randn(2, 64),
        snapshot_every=3,
        progress=False,
    )
    assert history.snapshot_steps == [3, 6] and len(history.snapshots) == 2
    with pytest.raises(ValueError, match="snapshot_every must be a positive"):
        train_gan(Generator(), Discriminator(), tiny_digits(16), epochs=1, snapshot_every=0, progress=False)


class TinyMLPGenerator(ImageGenerator):
    """A generator written outside utils.gan, as chapter 04 writes its MLP GAN."""

    def __init__(self, config: GANConfig):
        super().__init__(config)
        self.net = nn.Sequential(nn.Linear(config.latent_dim, 28 * 28), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(z, labels)
        return self.net(z).view(-1, 1, 28, 28)


def test_train_gan_accepts_any_image_generator_subclass():
    torch.manual_seed(0)
    generator = TinyMLPGenerator(GANConfig(latent_dim=8))
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1), nn.Flatten(0))
    before = generator.net[0].weight.clone()
    history = train_gan(generator, discriminator, tiny_digits(32), epochs=1, batch_size=16, progress=False)
    assert len(history.g_loss) == 2 and not torch.equal(before, generator.net[0].weight)
    images = generator.sample(3, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match=r"expected noise \[B, 8\]"):
        generator(torch.randn(2, 64))
    with pytest.raises(ValueError, match="unconditional"):
        generator(torch.randn(2, 8), torch.tensor([0, 1]))


def test_recent_means_average_the_last_window_of_steps():
    history = GANHistory([1.0, 2.0, 4.0], [0.0, 1.0, 3.0], [0.5, 0.9, 0.7], [0.1, 0.2, 0.4], [], [], 0.0)
    assert _recent_means(history, 2) == {"d_loss": 3.0, "g_loss": 2.0, "D(x)": 0.8, "D(G(z))": 0.3}


def test_projection_embedding_starts_small_so_the_class_term_does_not_drown_the_logit():
    torch.manual_seed(0)
    discriminator = Discriminator(GANConfig(num_classes=10))
    assert discriminator.label_embedding.weight.std().item() == pytest.approx(0.02, rel=0.1)
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    h = discriminator.features(images)
    class_term = (discriminator.label_embedding(torch.zeros(64, dtype=torch.long)) * h).sum(dim=1)
    assert class_term.abs().max() < discriminator.readout(h).abs().max() * 5


def test_conditional_generator_has_a_gain_and_bias_per_class_starting_at_identity():
    torch.manual_seed(0)
    conditional = Generator(GANConfig(num_classes=10))
    assert torch.equal(conditional.class_gain.weight, torch.ones(10, 64 * 7 * 7))
    assert torch.equal(conditional.class_bias.weight, torch.zeros(10, 64 * 7 * 7))
    assert not conditional.project[1].affine  # the per-class affine replaces batch norm's shared one
    z = torch.randn(8, 64)
    # At initialisation the class terms are the identity: every label gives the unconditional image.
    same = conditional(z, torch.zeros(8, dtype=torch.long))
    assert torch.allclose(same, conditional(z, torch.full((8,), 9)))


def test_train_gan_refuses_images_already_in_the_gan_range_and_batches_it_cannot_fill():
    config = GANConfig(latent_dim=8, width=4)
    images = tiny_digits(32)
    with pytest.raises(ValueError, match=r"images must have values in \[0, 1\], found \[-1, 1\]"):
        train_gan(Generator(config), Discriminator(config), to_gan_range(images), epochs=1, batch_size=16,
                  progress=False)
    for batch_size in (0, -1, 33):
        with pytest.raises(ValueError, match=f"batch_size must be between 1 and the 32 images.*got {batch_size}"):
            train_gan(Generator(config), Discriminator(config), images, epochs=1, batch_size=batch_size,
                      progress=False)
    history = train_gan(Generator(config), Discriminator(config), images, epochs=1, batch_size=32, progress=False)
    assert len(history.d_loss) == 1  # the largest batch the data fills still trains


def test_train_gan_checks_fixed_noise_and_ema_before_training():
    config = GANConfig(latent_dim=8, width=4)
    generator = Generator(config)
    with pytest.raises(ValueError, match=r"fixed_noise must be \[k, 8\], got shape \(3, 64\)"):
        train_gan(generator, Discriminator(config), tiny_digits(16), epochs=1, batch_size=8,
                  fixed_noise=torch.randn(3, 64), progress=False)
    other = EMA(Generator(GANConfig(latent_dim=16, width=4)))
    with pytest.raises(ValueError, match=r"ema must average this generator: build it with EMA\(generator\)"):
        train_gan(generator, Discriminator(config), tiny_digits(16), epochs=1, batch_size=8, ema=other,
                  progress=False)


def test_sizes_sample_counts_noise_and_logit_shapes_are_checked():
    with pytest.raises(ValueError, match="latent_dim must be at least 1, got 0"):
        Generator(GANConfig(latent_dim=0))
    with pytest.raises(ValueError, match="latent_dim must be at least 1, got 0"):
        TinyMLPGenerator(GANConfig(latent_dim=0))
    with pytest.raises(ValueError, match="width must be at least 2.*got 1"):
        Generator(GANConfig(width=1))
    with pytest.raises(ValueError, match="width must be at least 2.*got 0"):
        Discriminator(GANConfig(width=0))
    with pytest.raises(ValueError, match="num_classes must be >= 0"):
        Discriminator(GANConfig(num_classes=-1))
    model = Generator(GANConfig(latent_dim=8, width=4))
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        model.sample(0)
    with pytest.raises(ValueError, match="noise contains NaN"):
        model.render(torch.full((2, 8), float("nan")))
    with pytest.raises(ValueError, match=r"real_logits must be one logit per image, a tensor \[B\], got \(2, 3\)"):
        discriminator_loss(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match=r"fake_logits must be one logit per image"):
        generator_loss(torch.zeros(4, 1))
