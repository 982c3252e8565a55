import pytest
import torch

from utils.data import load_mnist
from utils.flow_models import ImageFlow, LatentFlow, VelocityMLP
from utils.recipes import FlowMatchingRecipe, train_flow_matching
from utils.unet import UNet, UNetConfig
from utils.vae import VAE, VAEConfig


def tiny_image_flow(num_classes: int = 0) -> ImageFlow:
    torch.manual_seed(0)
    return ImageFlow(UNet(UNetConfig(channels=(8, 16), embed_dim=16, num_classes=num_classes)), steps=3)


def test_image_flow_maps_digits_to_noise_scale_and_back():
    model = tiny_image_flow()
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3).expand(1, 1, 28, 3).contiguous()
    x = torch.nn.functional.pad(x, (0, 25))
    scaled = model.to_model_space(x)
    assert scaled[0, 0, 0, :3].tolist() == [-1.0, 0.0, 1.0]
    assert torch.equal(model.to_images(scaled), x)
    assert model.to_images(torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2)).tolist() == [[[[0.0, 1.0]]]]  # clamped
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.to_model_space(x * 255)


def test_sample_draws_digits_in_unit_range_reproducibly():
    model = tiny_image_flow(num_classes=10)
    for module in model.modules():  # leave the identity-at-start initialisation behind
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.1)
    a = model.sample(4, generator=torch.Generator().manual_seed(0))
    b = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 1, 28, 28) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)
    labels = torch.tensor([3, 3, 7, 7])
    guided = model.sample(4, labels, torch.Generator().manual_seed(0), guidance=3.0)
    plain = model.sample(4, labels, torch.Generator().manual_seed(0), guidance=1.0)
    assert not torch.equal(guided, plain)
    assert torch.allclose(model.sample(5, labels=torch.tensor([0, 1, 2, 3, 4]), generator=torch.Generator().manual_seed(1),
                                       batch_size=2),
                          model.sample(5, labels=torch.tensor([0, 1, 2, 3, 4]), generator=torch.Generator().manual_seed(1)),
                          atol=1e-5)  # solving in batches changes nothing
    path = model.sample(3, generator=torch.Generator().manual_seed(0), steps=4, method="euler", trajectory=True,
                        batch_size=2)
    assert path.shape == (5, 3, 1, 28, 28)
    model.train()
    model.sample(1)
    assert model.training  # sampling runs in eval mode and restores the mode


def test_sample_refuses_bad_requests():
    model = tiny_image_flow(num_classes=10)
    with pytest.raises(ValueError, match="at least 1"):
        model.sample(0)
    with pytest.raises(ValueError, match=r"in 0\.\.9"):
        model.sample(2, labels=torch.tensor([3, 10]))  # the null index is not a digit
    with pytest.raises(ValueError, match="unknown sampler"):
        model.sample(2, method="rk4")
    with pytest.raises(ValueError, match="unconditional"):
        tiny_image_flow().sample(2, labels=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="unknown sampler"):
        ImageFlow(UNet(UNetConfig(channels=(8, 16))), method="rk4")


def test_latent_flow_standardises_codes_and_decodes_them():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=4, hidden=32))
    model = LatentFlow(VelocityMLP(4, hidden=16, layers=1, embed_dim=8), vae, steps=2)
    images, _ = load_mnist("test")
    model.fit_code_statistics(images[:500])
    codes = model.to_model_space(images[:500])
    assert codes.shape == (500, 4)
    assert torch.allclose(codes.mean(0), torch.zeros(4), atol=1e-5) and torch.allclose(codes.std(0), torch.ones(4))
    decoded = model.to_images(codes[:3])
    assert torch.allclose(decoded, vae.decode(vae.encode(images[:3])[0]), atol=1e-5)
    assert model.sample(3).shape == (3, 1, 28, 28)
    assert not any(p.requires_grad for p in model.vae.parameters())  # the VAE is frozen


def test_training_a_tiny_flow_lowers_its_loss_and_keeps_the_ema_weights():
    images, labels = load_mnist("test")
    model = tiny_image_flow(num_classes=10)
    recipe = FlowMatchingRecipe(steps=40, batch_size=32, lr=3e-3, warmup_steps=5)
    seen = []
    history = train_flow_matching(model, images[:512], recipe, labels=labels[:512],
                                  generator=torch.Generator().manual_seed(0), eval_every=20,
                                  eval_fn=lambda v: seen.append(v) or {"ema_norm": float(v.out[-1].weight.norm())},
                                  progress=False)
    assert len(history.step_loss) == 40 and not model.training
    assert sum(history.step_loss[-10:]) < 0.8 * sum(history.step_loss[:10])
    assert len(history.metric("ema_norm")) == 2
    # the model ends with the EMA weights (the network eval_fn saw)
    assert torch.equal(model.velocity.out[-1].weight, seen[-1].out[-1].weight)
    with pytest.raises(ValueError, match="exactly when the model is class-conditional"):
        train_flow_matching(model, images[:64], recipe, generator=torch.Generator().manual_seed(0), progress=False)


def test_sampler_settings_are_checked_when_built_and_when_sampling():
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        ImageFlow(UNet(UNetConfig(channels=(8, 16))), steps=0)
    with pytest.raises(ValueError, match="the guidance scale must be finite and >= 0, got nan"):
        ImageFlow(UNet(UNetConfig(channels=(8, 16))), guidance=float("nan"))
    model = tiny_image_flow()
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        model.sample(2, steps=0)  # was silently the model's default
    with pytest.raises(ValueError, match="the guidance scale must be finite and >= 0, got nan"):
        model.sample(2, guidance=float("nan"))  # was ignored by an unconditional model


def test_velocity_mlp_sizes_and_a_vae_of_another_latent_size_are_refused():
    for name, sizes in (("dim", dict(dim=0)), ("hidden", dict(dim=2, hidden=0)), ("layers", dict(dim=2, layers=0))):
        with pytest.raises(ValueError, match=f"{name} must be at least 1, got 0"):
            VelocityMLP(**sizes)
    with pytest.raises(ValueError, match="the embedding dimension must be even and at least 2, got 3"):
        VelocityMLP(2, embed_dim=3)
    with pytest.raises(ValueError, match=r"the velocity network's dim 3 must equal the VAE's latent_dim 4"):
        LatentFlow(VelocityMLP(3, hidden=8, layers=1, embed_dim=4), VAE(VAEConfig(latent_dim=4, hidden=8)))
